// policies.js: spawn policies with their managed-agent state, start/stop/restart.

import { addressesChanged } from "./agents.js";
import { api, enc } from "./api.js";
import { upsertCommand } from "./commands.js";
import { badge, button, h, renderList, when } from "./dom.js";
import { perform } from "./notice.js";
import { define, listed, reloadSoon, touch } from "./sections.js";

export const policiesView = define("policies", {
  ...listed("/api/spawn-policies", (p) => p.policy.name, addressesChanged),
  draw(section) {
    section.list.dataset.empty = "No spawn policies.";
    renderList(section.list, [...section.items.values()].sort((a, b) =>
      a.policy.name.localeCompare(b.policy.name)), (p) => p.policy.name, policyRow);
  },
  on: {
    "policy.state.changed": (state) => {
      const entry = policiesView.items.get(state.policyName);
      if (!entry) return reloadSoon("policies");
      policiesView.items.set(state.policyName, { ...entry, state });
      touch("policies");
    },
    "config.changed": (entry) => {
      if (entry.namespace === "spawn-policy") reloadSoon("policies");
    },
  },
  act: Object.fromEntries(["start", "stop", "restart"].map((action) => [action, async (name) => {
    const answer = await perform(api("POST", `/api/spawn-policy/${enc(name)}/${action}`, {}),
      (a) => `${action} of policy ${name} asked` + (a?.command ? ` (command ${a.command.id})` : ""));
    if (answer?.command) upsertCommand(answer.command);
  }])),
});

function policyRow({ policy: p, state: s }) {
  s = s || { status: "stopped" };
  return h("li", { class: `row policy is-${s.status}` },
    h("div", { class: "line" }, h("strong", { class: "name" }, p.name), badge(s.status),
      h("span", { class: "muted" }, `${p.mode || "manual"}${p.enabled === false ? ", disabled" : ""}`),
      h("span", { class: "muted push name" }, `${p.provider} on ${p.orchestratorId}`)),
    h("div", { class: "line small" },
      s.agentId ? h("span", { class: "name" }, `agent ${s.agentId}`) : null,
      h("span", { class: "muted" }, `restarts ${s.restartCount ?? 0}`),
      s.nextAttemptAt ? h("span", { class: "muted nowrap" }, "next attempt ", when(s.nextAttemptAt)) : null),
    s.lastError ? h("p", { class: "error-text small" }, `last error: ${s.lastError}`) : null,
    h("div", { class: "buttons" },
      button("start", "Start", `Start policy ${p.name}`),
      button("stop", "Stop", `Stop policy ${p.name}`),
      button("restart", "Restart", `Restart policy ${p.name}`)));
}
