// commands.js: the newest commands (GET /api/commands?order=newest), live.

import { api } from "./api.js";
import { badge, h, renderList, when } from "./dom.js";
import { define, touch } from "./sections.js";

const KEPT = 100;
let arrivals = 0;                // live commands rank above every loaded one

export const commandsView = define("commands", {
  rank: new Map(),               // id -> place, newest highest (the relay's order)
  async load(section) {
    const page = await api("GET", `/api/commands?order=newest&limit=${KEPT}`);
    section.items = new Map(page.map((c) => [c.id, c]));
    section.rank = new Map(page.map((c, i) => [c.id, page.length - i]));
  },
  count: (section) => section.items.size,
  draw(section) {
    const shown = [...section.items.values()].sort((a, b) =>
      section.rank.get(b.id) - section.rank.get(a.id));
    for (const old of shown.slice(KEPT)) { section.items.delete(old.id); section.rank.delete(old.id); }
    section.list.dataset.empty = "No commands.";
    renderList(section.list, shown.slice(0, KEPT), (c) => c.id, (c) =>
      h("li", { class: `row command is-${c.status}` },
        h("div", { class: "line" }, h("strong", { class: "name" }, c.type), badge(c.status),
          h("span", { class: "muted name" }, `→ ${c.target}`),
          h("span", { class: "muted push nowrap" }, when(c.updatedAt || c.createdAt))),
        c.error ? h("p", { class: "error-text small" }, c.error) : null));
  },
  on: { "command.created": upsertCommand, "command.updated": upsertCommand },
  upsert: upsertCommand,
});

export function upsertCommand(command) {
  if (!command || !command.id) return;
  if (!commandsView.rank.has(command.id)) commandsView.rank.set(command.id, 1e9 + ++arrivals);
  commandsView.items.set(command.id, command);
  touch("commands");
}
