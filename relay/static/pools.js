// pools.js: pools with their members and who of them is online.

import { addressesChanged, agentsView } from "./agents.js";
import { badge, h, renderList } from "./dom.js";
import { define, listed, reloadSoon, touch } from "./sections.js";

define("pools", {
  ...listed("/api/pools", (p) => p.name, addressesChanged),
  draw(section) {
    section.list.dataset.empty = "No pools.";
    const status = (id) => agentsView.items.get(id)?.status || "offline";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.name.localeCompare(b.name)),
      (p) => p.name, (p) => h("li", { class: "row pool" },
        h("div", { class: "line" }, h("strong", { class: "name" }, p.name), badge(p.strategy, "kind"),
          h("span", { class: "muted push" }, `${p.online ?? 0} online of ${(p.members || []).length}`)),
        h("div", { class: "line small" }, (p.members || []).map((m) =>
          h("span", { class: `chip name is-${status(m.id)}` }, m.label || m.id)))),
      (p) => JSON.stringify([p, (p.members || []).map((m) => status(m.id))]));
  },
  on: {
    "pool.binding.changed": () => reloadSoon("pools"),
    "agent.status": () => touch("pools"),
  },
});
