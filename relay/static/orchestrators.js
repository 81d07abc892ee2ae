// orchestrators.js: orchestrators with their managed agents; the spawn form sits below.

import { addressesChanged } from "./agents.js";
import { badge, chips, h, renderList, when } from "./dom.js";
import { define, listed, touch } from "./sections.js";
import { setupSpawn, spawnOptions } from "./spawn.js";

export const orchestratorsView = define("orchestrators", {
  // Restart and shut down on agents follow the orchestrators known.
  ...listed("/api/orchestrators", (o) => o.id, () => { addressesChanged(); touch("agents"); }),
  setup: () => setupSpawn(),
  draw(section) {
    section.list.dataset.empty = "No orchestrators.";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.id.localeCompare(b.id)),
               (o) => o.id, orchestratorRow);
    const form = document.getElementById("spawn");
    form.hidden = !section.items.size;
    spawnOptions(form, section.items);
  },
  on: {
    "orchestrator.status": (o) => {
      orchestratorsView.items.set(o.id, o);
      touch("orchestrators");
      touch("agents");
    },
    "orchestrator.removed": (data) => {
      orchestratorsView.items.delete(String(data.orchestratorId));
      touch("orchestrators");
      touch("agents");
    },
  },
});

function orchestratorRow(o) {
  return h("li", { class: `row orchestrator is-${o.status}` },
    h("div", { class: "line" }, h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { class: "name" }, o.id), badge(o.status),
      h("span", { class: "muted name" }, o.hostname || ""),
      h("span", { class: "muted push nowrap" }, "heartbeat ", when(o.lastHeartbeat))),
    h("div", { class: "line small" }, chips(o.providers),
      o.baseDir ? h("span", { class: "muted name" }, o.baseDir) : null),
    (o.managedAgents || []).length ? h("ul", { class: "managed" }, o.managedAgents.map((m) =>
      h("li", { class: `is-${m.status} name` }, badge(m.status),
        ` ${m.label || m.agentId || m.sessionName} `,
        h("span", { class: "muted" }, `${m.provider}${m.policyName ? `, policy ${m.policyName}` : ""}`))))
      : null);
}
