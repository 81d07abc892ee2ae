// tasks.js: tasks by status. Each group is read with its own status filter (newest
// first, a page at a time) and counted by GET /api/stats, so a group's count is the
// relay's and an old open task is never crowded out by newer ones of another status.

import { api, query } from "./api.js";
import { ask } from "./ask.js";
import { badge, button, h, renderList, when } from "./dom.js";
import { me } from "./identity.js";
import { asMe } from "./messages.js";
import { notify } from "./notice.js";
import { define, touch } from "./sections.js";

const GROUPS = { open: ["open"], claimed: ["claimed"], in_progress: ["in_progress"],
                 blocked: ["blocked"], done: ["resolved", "failed", "cancelled"] };
const PAGES = { done: 20 };
const PAGE = 100;
const groupOf = (status) => Object.keys(GROUPS).find((g) => GROUPS[g].includes(status));

export const tasksView = define("tasks", {
  counts: {},                    // status -> number, from the relay
  more: {},                      // group -> whether the relay has more than is loaded
  async load(section) {
    const [stats, ...pages] = await Promise.all([
      api("GET", "/api/stats"),
      ...Object.entries(GROUPS).map(([g, statuses]) =>
        api("GET", query("/api/tasks", { status: statuses.join(","), limit: PAGES[g] || PAGE })))]);
    section.counts = stats.tasks?.byStatus || {};
    section.items = new Map();
    Object.keys(GROUPS).forEach((g, i) => {
      for (const t of pages[i]) section.items.set(String(t.id), t);
      section.more[g] = pages[i].length === (PAGES[g] || PAGE);
    });
  },
  count: (section) => ["open", "claimed", "in_progress", "blocked"]
    .reduce((n, s) => n + (section.counts[s] || 0), 0),
  draw(section) {
    const groups = Object.fromEntries(Object.keys(GROUPS).map((g) => [g, []]));
    for (const t of section.items.values()) groups[groupOf(t.status)]?.push(t);
    const shown = Object.keys(GROUPS).map((g) => ({
      group: g, as: me(), more: section.more[g],
      total: GROUPS[g].reduce((n, s) => n + (section.counts[s] || 0), 0),
      tasks: groups[g].sort((a, b) => b.id - a.id) }))
      .filter((g) => g.tasks.length || g.total);
    section.list.dataset.empty = "No tasks.";
    renderList(section.list, shown, (g) => g.group, groupBlock);
  },
  on: {
    "task.created": upsertTask,
    "task.updated": upsertTask,
    "task.deleted": (data) => { tasksView.items.delete(String(data.taskId)); countSoon(); },
    "task.event": (data) => {
      if (data.title !== undefined) upsertTask(data);
      else if (data.taskId) reloadTask(data.taskId);
    },
  },
  act: {
    claim: (id) => asMe((who) => api("POST", `/api/tasks/${id}/claim`, { agentId: who }),
                        (who) => `task #${id} claimed by ${who}`).then(upsertTask),
    release: (id) => asMe((who) => api("POST", `/api/tasks/${id}/release`, { agentId: who }),
                          () => `task #${id} released`).then(upsertTask),
    resolve: (id) => asMe((who) => api("POST", `/api/tasks/${id}/status`,
                                       { status: "resolved", agentId: who }),
                          () => `task #${id} resolved`).then(upsertTask),
    progress: async (id) => {
      const answer = await ask(`Progress on task #${id}`, [
        { name: "note", label: "Note", type: "textarea", required: true, max: 4000 },
        { name: "progress", label: "Progress (0-100, optional)", type: "number", min: 0, max: 100 }],
        "Add note");
      if (!answer) return;
      await asMe((who) => {
        const body = { note: answer.note, agentId: who };
        if (answer.progress !== "") body.progress = Number(answer.progress);
        return api("POST", `/api/tasks/${id}/events`, body);
      }, () => `note added to task #${id}`);
      reloadTask(id);
    },
    more: (group) => olderTasks(group),
  },
});

function groupBlock(g) {
  const label = g.group.replace("_", " ");
  return h("div", { class: "group", "data-group": g.group },
    h("h3", {}, `${label} (${g.total})`),
    h("ul", { class: "list", "data-section": "tasks" }, g.tasks.map(taskRow)),
    g.more ? h("p", { class: "more", "data-key": g.group, "data-section": "tasks" },
      h("span", { class: "muted small" }, `showing ${g.tasks.length} of ${g.total} `),
      button("more", "Show older", `Show older ${label} tasks`)) : null);
}

async function olderTasks(group) {
  const loaded = [...tasksView.items.values()].filter((t) => groupOf(t.status) === group);
  const before = Math.min(...loaded.map((t) => t.id));
  try {
    const page = await api("GET", query("/api/tasks", { status: GROUPS[group].join(","),
                                                       before, limit: PAGE }));
    for (const t of page) tasksView.items.set(String(t.id), t);
    tasksView.more[group] = page.length === PAGE;
  } catch (error) {
    notify(error.message, { error: true });
  }
  touch("tasks");
}

// Counts follow changes from the relay's own numbers, read once for a burst of events.
let countTimer = null;
function countSoon() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    try { tasksView.counts = (await api("GET", "/api/stats")).tasks?.byStatus || {}; } catch { return; }
    touch("tasks");
  }, 300);
}

function upsertTask(task) {
  if (!task || task.id === undefined) return;
  tasksView.items.set(String(task.id), task);
  countSoon();
  touch("tasks");
}

async function reloadTask(id) {
  try { upsertTask(await api("GET", `/api/tasks/${id}`)); }
  catch (error) { notify(`task #${id}: ${error.message}`, { error: true }); }
}

function taskRow(t) {
  const open = groupOf(t.status) !== "done";
  const mine = me();
  return h("li", { class: `row task sev-${t.severity}`, "data-key": t.id },
    h("div", { class: "line" }, badge(t.severity, "sev"), h("strong", { class: "name clamp3", title: t.title }, t.title),
      t.occurrences > 1 ? h("span", { class: "muted" }, `×${t.occurrences}`) : null,
      h("span", { class: "muted push nowrap" }, `#${t.id} `, when(t.updatedAt))),
    h("div", { class: "line small" },
      t.target ? h("span", { class: "name", title: t.target }, `for ${t.target}`) : null,
      t.claimedBy ? h("span", { class: "claim is-held name" }, `held by ${t.claimedBy}`) : null,
      open ? null : badge(t.status),
      open ? h("span", { class: "buttons push" },
        t.claimedBy ? null : button("claim", "Claim", `Claim task #${t.id}`),
        mine && t.claimedBy === mine ? button("release", "Release", `Release task #${t.id}`) : null,
        button("progress", "Progress", `Add a progress note to task #${t.id}`),
        // The relay lets only the holder of a claim resolve the task.
        !t.claimedBy || t.claimedBy === mine
          ? button("resolve", "Resolve", `Resolve task #${t.id}`) : null) : null));
}
