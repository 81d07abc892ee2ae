// channels.js: channels with their bindings and each binding's health.

import { badge, h, plural, renderList, when } from "./dom.js";
import { define, listed, reloadSoon } from "./sections.js";

define("channels", {
  ...listed("/api/channels", (c) => c.id),
  draw(section) {
    section.list.dataset.empty = "No channels.";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.id.localeCompare(b.id)),
               (c) => c.id, channelRow);
  },
  on: { "channel.activity": () => reloadSoon("channels") },
});

function channelRow(c) {
  const health = new Map((c.health || []).map((x) => [x.bindingId, x]));
  return h("li", { class: "row channel" },
    h("div", { class: "line" }, h("strong", { class: "name" }, c.id),
      h("span", { class: "muted" }, plural(c.messageCount ?? 0, "message")),
      h("span", { class: "muted push nowrap" }, "last ", when(c.lastActivityAt))),
    h("ul", { class: "bindings" }, (c.bindings || []).map((b) => {
      const x = health.get(b.id);
      return h("li", { class: x && !x.healthy ? "is-unhealthy" : "" },
        badge(x ? (x.healthy ? "healthy" : "unhealthy") : "?"),
        h("span", { class: "name" }, ` ${b.target?.type}${b.target?.id ? `:${b.target.id}` : ""} `),
        h("span", { class: "muted" }, `${b.mode}, ${b.direction}, priority ${b.priority}` +
          (x ? `, ${x.onlineAgents} online` : "")));
    })));
}
