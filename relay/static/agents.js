// agents.js: the agents panel: a text filter over id, label, tags and capabilities, a
// status filter, counts that follow them, and restart/shut down for managed agents.

import { api, enc } from "./api.js";
import { badge, button, chips, h, renderList, when } from "./dom.js";
import { perform } from "./notice.js";
import { SECTIONS, define, fill, touch } from "./sections.js";

const STATUS_ORDER = ["busy", "online", "idle", "stale", "offline"];

export const agentsView = define("agents", {
  async load(section) {
    fill(section, await api("GET", "/api/agents"), (a) => a.id);
    addressesChanged();
  },
  setup(section) {
    const form = section.root.querySelector("#agent-filter");
    form.addEventListener("input", () => touch("agents"));
    form.addEventListener("submit", (e) => e.preventDefault());
  },
  count: (section) => section.shown === section.items.size ? section.items.size
    : `${section.shown} of ${section.items.size}`,
  draw(section) {
    const form = section.root.querySelector("#agent-filter");
    const status = form.elements.status.value;
    const words = form.elements.text.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = [...section.items.values()]
      .filter((a) => (!status || a.status === status) && words.every((w) => matches(a, w)))
      .sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status)
                      || a.id.localeCompare(b.id));
    section.shown = shown.length;
    section.list.dataset.empty = section.items.size ? "No agent matches the filter." : "No agents yet.";
    const known = SECTIONS.orchestrators.items;
    renderList(section.list, shown, (a) => a.id, agentRow,
               (a) => JSON.stringify([a, known.has(a.meta?.orchestratorId || "")]));
  },
  on: {
    "agent.status": (agent) => {
      agentsView.items.set(agent.id, agent);
      addressesChanged();
      touch("agents");
    },
    "agent.removed": (data) => {
      agentsView.items.delete(String(data.agentId));
      addressesChanged();
      touch("agents");
    },
  },
  act: {
    restart: (id) => agentAction(id, "restart"),
    shutdown: (id) => agentAction(id, "shutdown"),
  },
});

// A word matches a part of the id, name or label, or a tag or capability, with or
// without the "#" and "cap:" the rows show.
function matches(a, word) {
  const bare = word.replace(/^#/, "").replace(/^cap:/, "");
  return [a.id, a.name, a.label].some((v) => v && v.toLowerCase().includes(word))
    || (a.tags || []).some((t) => t.toLowerCase().includes(bare))
    || (a.capabilities || []).some((c) => c.toLowerCase().includes(bare));
}

function agentRow(a) {
  // Restart and shut down go through the orchestrator: only one this relay knows.
  const managed = a.meta?.orchestratorId && SECTIONS.orchestrators.items.has(a.meta.orchestratorId);
  const shownName = a.label || a.name || a.id;
  return h("li", { class: `row agent is-${a.status}` },
    h("div", { class: "line" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { class: "name", title: shownName }, shownName),
      shownName !== a.id ? h("span", { class: "muted name", title: a.id }, a.id) : null,
      badge(a.status), a.kind !== "provider" ? badge(a.kind, "kind") : null,
      a.ready === false ? badge("not ready") : null),
    h("div", { class: "line small" },
      chips(a.tags, "#"), chips(a.capabilities, "cap:"),
      h("span", { class: "muted push nowrap" }, "seen ", when(a.lastSeen))),
    managed ? h("div", { class: "buttons" },
      h("span", { class: "muted small" }, `managed by ${a.meta.orchestratorId}`),
      button("restart", "Restart", `Restart agent ${a.id}`),
      button("shutdown", "Shut down", `Shut down agent ${a.id}`)) : null);
}

async function agentAction(id, action) {
  const answer = await perform(
    api("POST", `/api/agents/${enc(id)}/actions`, { action, reason: "from the dashboard" }),
    (a) => `${action} of ${id} queued (command ${a.command?.id || "?"})`);
  if (answer?.command) SECTIONS.commands.upsert(answer.command);
}

// The To field's suggestions: agents and the group addresses they make up.
export function addressesChanged() {
  clearTimeout(addressesChanged.timer);
  addressesChanged.timer = setTimeout(() => {
    const found = new Set(["broadcast"]);
    for (const a of agentsView.items.values()) {
      found.add(a.id);
      if (a.label) found.add(`label:${a.label}`);
      for (const t of a.tags || []) found.add(`tag:${t}`);
      for (const c of a.capabilities || []) found.add(`cap:${c}`);
    }
    for (const name of SECTIONS.pools?.items.keys() || []) found.add(`pool:${name}`);
    for (const name of SECTIONS.policies?.items.keys() || []) found.add(`policy:${name}`);
    for (const id of SECTIONS.orchestrators?.items.keys() || []) found.add(`orchestrator:${id}`);
    document.getElementById("addresses").replaceChildren(
      ...[...found].sort().map((value) => h("option", { value })));
  }, 200);
}
