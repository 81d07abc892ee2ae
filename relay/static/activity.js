// activity.js: the activity feed, newest first, live.

import { api } from "./api.js";
import { badge, h, preview, renderList, when } from "./dom.js";
import { define, fill, touch } from "./sections.js";

const KEPT = 100;

export const activityView = define("activity", {
  async load(section) {
    fill(section, await api("GET", `/api/activity?limit=${KEPT}`), (e) => e.id);
  },
  count: (section) => section.items.size,
  draw(section) {
    const shown = [...section.items.values()].sort((a, b) => b.id - a.id);
    for (const old of shown.slice(KEPT)) section.items.delete(String(old.id));
    section.list.dataset.empty = "Nothing has happened yet.";
    renderList(section.list, shown.slice(0, KEPT), (e) => e.id, (e) =>
      h("li", { class: `row activity kind-${e.kind}` },
        h("div", { class: "line" }, badge(e.kind, "kind"), h("strong", { class: "name" }, e.title),
          h("span", { class: "muted push nowrap" }, when(e.createdAt))),
        e.body ? h("p", { class: "body small" }, preview(e.body, 160)) : null));
  },
  on: {
    "activity.created": (entry) => {
      activityView.items.set(String(entry.id), entry);
      touch("activity");
    },
  },
});
