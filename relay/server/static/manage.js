"use strict";
// manage.js: tasks, spawn policies, orchestrators (with spawn), commands, channels,
// pools and recipes. Each calls its route; a relay without it answers 404 "no route
// for ..." and the section shows its "not available" note instead (core.js: load).

const FINAL_TASK = ["resolved", "failed", "cancelled"];
const TASK_GROUPS = ["open", "claimed", "in_progress", "blocked", "done"];
const COMMANDS_KEPT = 100;

// --- tasks -----------------------------------------------------------------------

const tasksView = define("tasks", {
  route: "/api/tasks",
  async load(section) {
    fill(section, await api("GET", "/api/tasks?limit=200"), (t) => t.id);
  },
  count: (section) => [...section.items.values()].filter((t) => !FINAL_TASK.includes(t.status)).length,
  draw(section) {
    const groups = Object.fromEntries(TASK_GROUPS.map((g) => [g, []]));
    for (const t of section.items.values()) {
      groups[FINAL_TASK.includes(t.status) ? "done" : t.status]?.push(t);
    }
    // Each group is redrawn whole when it changes; `as` is who its buttons act as.
    const shown = TASK_GROUPS.filter((g) => groups[g].length).map((g) => ({
      group: g, total: groups[g].length, as: me(),
      tasks: groups[g].sort((a, b) => b.id - a.id).slice(0, g === "done" ? 20 : 100) }));
    section.list.dataset.empty = "No tasks.";
    renderList(section.list, shown, (g) => g.group, (g) =>
      h("div", { class: "group" },
        h("h3", {}, `${g.group.replace("_", " ")} (${g.total})`),
        h("ul", { class: "list", "data-section": "tasks" }, g.tasks.map(taskRow))));
  },
  on: {
    "task.created": upsertTask,
    "task.updated": upsertTask,
    "task.event": (data) => {
      if (data.title !== undefined) upsertTask(data);
      else if (data.taskId) reloadTask(data.taskId);
    },
  },
  act: {
    claim: (id) => perform(api("POST", `/api/tasks/${id}/claim`, { agentId: me() }),
                           `task #${id} claimed by ${me()}`),
    release: (id) => perform(api("POST", `/api/tasks/${id}/release`, { agentId: me() }),
                             `task #${id} released`),
    resolve: (id) => perform(api("POST", `/api/tasks/${id}/status`,
                                 { status: "resolved", agentId: me() }), `task #${id} resolved`),
    progress: async (id) => {
      const answer = await ask(`Progress on task #${id}`, [
        { name: "note", label: "Note", type: "textarea", required: true, max: 4000 },
        { name: "progress", label: "Progress (0-100, optional)", type: "number", min: 0, max: 100 }],
        "Add note");
      if (!answer) return;
      const body = { note: answer.note, agentId: me() };
      if (answer.progress !== "") body.progress = Number(answer.progress);
      await perform(api("POST", `/api/tasks/${id}/events`, body), `note added to task #${id}`);
      reloadTask(id);
    },
  },
});

function upsertTask(task) {
  if (task.id === undefined) return;
  tasksView.items.set(String(task.id), task);
  touch("tasks");
}

async function reloadTask(id) {
  try { upsertTask(await api("GET", `/api/tasks/${id}`)); }
  catch (error) { if (!error.missing) notify(`task #${id}: ${error.message}`, true); }
}

function taskRow(t) {
  const open = !FINAL_TASK.includes(t.status);
  return h("li", { class: `row task sev-${t.severity}`, "data-key": t.id },
    h("div", { class: "line" }, badge(t.severity, "sev"), h("strong", {}, t.title),
      t.occurrences > 1 ? h("span", { class: "muted" }, `×${t.occurrences}`) : null,
      h("span", { class: "muted push" }, `#${t.id} `, when(t.updatedAt))),
    h("div", { class: "line small" },
      t.target ? h("span", {}, `for ${t.target}`) : null,
      t.claimedBy ? h("span", { class: "claim is-held" }, `held by ${t.claimedBy}`) : null,
      open ? null : badge(t.status),
      open ? h("span", { class: "buttons push" },
        t.claimedBy ? null : button("claim", "Claim", `Claim task #${t.id} as ${me()}`),
        t.claimedBy === me() ? button("release", "Release", `Release task #${t.id}`) : null,
        button("progress", "Progress", `Add a progress note to task #${t.id}`),
        button("resolve", "Resolve", `Resolve task #${t.id}`)) : null));
}

// --- spawn policies --------------------------------------------------------------

const policiesView = define("policies", {
  route: "/api/spawn-policies",
  async load(section) {
    fill(section, await api("GET", "/api/spawn-policies"), (p) => p.policy.name);
    addressesChanged();
  },
  count: (section) => section.items.size,
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
    h("div", { class: "line" }, h("strong", {}, p.name), badge(s.status),
      h("span", { class: "muted" }, `${p.mode || "manual"}${p.enabled === false ? ", disabled" : ""}`),
      h("span", { class: "muted push" }, `${p.provider} on ${p.orchestratorId}`)),
    h("div", { class: "line small" },
      s.agentId ? h("span", {}, `agent ${s.agentId}`) : null,
      h("span", { class: "muted" }, `restarts ${s.restartCount ?? 0}`),
      s.nextAttemptAt ? h("span", { class: "muted" }, "next attempt ", when(s.nextAttemptAt)) : null),
    s.lastError ? h("p", { class: "error-text small" }, `last error: ${s.lastError}`) : null,
    h("div", { class: "buttons" },
      button("start", "Start", `Start policy ${p.name}`),
      button("stop", "Stop", `Stop policy ${p.name}`),
      button("restart", "Restart", `Restart policy ${p.name}`)));
}

// --- orchestrators and the spawn form ----------------------------------------------

const orchestratorsView = define("orchestrators", {
  route: "/api/orchestrators",
  async load(section) {
    fill(section, await api("GET", "/api/orchestrators"), (o) => o.id);
    addressesChanged();
  },
  setup(section) {
    const form = document.getElementById("spawn");
    form.elements.orchestrator.addEventListener("change", () => spawnOptions(form));
    form.addEventListener("submit", (event) => { event.preventDefault(); spawn(form); });
    document.getElementById("browse").onclick = () => browse(form, form.elements.cwd.value.trim());
  },
  count: (section) => section.items.size,
  draw(section) {
    section.list.dataset.empty = "No orchestrators.";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.id.localeCompare(b.id)),
               (o) => o.id, orchestratorRow);
    const form = document.getElementById("spawn");
    form.hidden = section.missing || !section.items.size;
    spawnOptions(form);
  },
  on: {
    "orchestrator.status": (o) => {
      orchestratorsView.items.set(o.id, o);
      touch("orchestrators");
    },
    "orchestrator.removed": (data) => {
      orchestratorsView.items.delete(String(data.orchestratorId));
      touch("orchestrators");
    },
  },
});

function orchestratorRow(o) {
  return h("li", { class: `row orchestrator is-${o.status}` },
    h("div", { class: "line" }, h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", {}, o.id), badge(o.status),
      h("span", { class: "muted" }, o.hostname || ""),
      h("span", { class: "muted push" }, "heartbeat ", when(o.lastHeartbeat))),
    h("div", { class: "line small" }, chips(o.providers),
      o.baseDir ? h("span", { class: "muted" }, o.baseDir) : null),
    (o.managedAgents || []).length ? h("ul", { class: "managed" }, o.managedAgents.map((m) =>
      h("li", { class: `is-${m.status}` }, badge(m.status),
        ` ${m.label || m.agentId || m.sessionName} `,
        h("span", { class: "muted" }, `${m.provider}${m.policyName ? `, policy ${m.policyName}` : ""}`))))
      : null);
}

function spawnOptions(form) {
  const select = form.elements.orchestrator;
  const chosen = select.value;
  const ids = [...orchestratorsView.items.keys()].sort();
  if (select.options.length !== ids.length || ids.some((id, i) => select.options[i].value !== id)) {
    select.replaceChildren(...ids.map((id) => h("option", { value: id }, id)));
    if (ids.includes(chosen)) select.value = chosen;
  }
  const providers = orchestratorsView.items.get(select.value)?.providers || [];
  const provider = form.elements.provider;
  if ([...provider.options].map((o) => o.value).join() !== providers.join()) {
    const was = provider.value;
    provider.replaceChildren(...providers.map((p) => h("option", { value: p }, p)));
    if (providers.includes(was)) provider.value = was;
  }
}

// The orchestrator's directory listing, whatever its exact shape: a list of names
// or paths, or an object carrying one (directories, entries, dirs) and a parent.
async function browse(form, path) {
  const list = document.getElementById("dirs");
  const id = form.elements.orchestrator.value;
  const error = form.querySelector("[data-error]");
  try {
    const answer = await api("GET", `/api/orchestrators/${enc(id)}/directories` +
                                    (path ? `?path=${enc(path)}` : ""));
    const entries = Array.isArray(answer) ? answer
      : answer.directories || answer.entries || answer.dirs || [];
    const base = (!Array.isArray(answer) && (answer.path || answer.cwd)) || path || "";
    const join = (name) => name.startsWith("/") ? name : `${base.replace(/\/$/, "")}/${name}`;
    const items = entries.map((e) => typeof e === "string" ? { name: e, path: join(e) }
      : { name: e.name || e.path, path: e.path || join(e.name) });
    if (!Array.isArray(answer) && answer.parent) items.unshift({ name: "..", path: answer.parent });
    list.replaceChildren(...items.map((d) => h("li", {},
      h("button", { type: "button", class: "quiet small", "data-path": d.path }, d.name))));
    list.onclick = (event) => {
      const chosen = event.target.closest("[data-path]");
      if (!chosen) return;
      form.elements.cwd.value = chosen.dataset.path;
      browse(form, chosen.dataset.path);
    };
    list.hidden = false;
    if (!path && base) form.elements.cwd.value = base;
    showError(error, items.length ? null : new Error("No directories here."));
  } catch (failure) {
    showError(error, failure);
  }
}

async function spawn(form) {
  const f = form.elements;
  const body = { provider: f.provider.value, approvalMode: f.approvalMode.value };
  for (const name of ["cwd", "label", "prompt"]) if (f[name].value.trim()) body[name] = f[name].value.trim();
  const error = form.querySelector("[data-error]");
  try {
    const answer = await api("POST", `/api/orchestrators/${enc(f.orchestrator.value)}/spawn`, body);
    showError(error, null);
    if (answer?.command) upsertCommand(answer.command);
    notify(`spawn asked of ${f.orchestrator.value} (command ${answer?.command?.id || "?"})`);
  } catch (failure) {
    showError(error, failure);
  }
}

// --- commands --------------------------------------------------------------------

const commandsView = define("commands", {
  route: "/api/commands",
  async load(section) {
    // The list is oldest first (what an orchestrator polls): take the newest 100.
    const all = await api("GET", "/api/commands?limit=500");
    fill(section, all.slice(-COMMANDS_KEPT), (c) => c.id);
  },
  count: (section) => section.items.size,
  draw(section) {
    const shown = [...section.items.values()].sort((a, b) => b.createdAt - a.createdAt
                                                      || b.id.localeCompare(a.id));
    for (const old of shown.slice(COMMANDS_KEPT)) section.items.delete(old.id);
    section.list.dataset.empty = "No commands.";
    renderList(section.list, shown.slice(0, COMMANDS_KEPT), (c) => c.id, (c) =>
      h("li", { class: `row command is-${c.status}` },
        h("div", { class: "line" }, h("strong", {}, c.type), badge(c.status),
          h("span", { class: "muted" }, `→ ${c.target}`),
          h("span", { class: "muted push" }, when(c.updatedAt || c.createdAt))),
        c.error ? h("p", { class: "error-text small" }, c.error) : null));
  },
  on: { "command.created": upsertCommand, "command.updated": upsertCommand },
});

function upsertCommand(command) {
  if (!command || !command.id || commandsView.missing) return;
  commandsView.items.set(command.id, command);
  touch("commands");
}

// --- channels --------------------------------------------------------------------

define("channels", {
  route: "/api/channels",
  async load(section) {
    fill(section, await api("GET", "/api/channels"), (c) => c.id);
  },
  count: (section) => section.items.size,
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
    h("div", { class: "line" }, h("strong", {}, c.id),
      h("span", { class: "muted" }, `${c.messageCount ?? 0} messages`),
      h("span", { class: "muted push" }, "last ", when(c.lastActivityAt))),
    h("ul", { class: "bindings" }, (c.bindings || []).map((b) => {
      const x = health.get(b.id);
      return h("li", { class: x && !x.healthy ? "is-unhealthy" : "" },
        badge(x ? (x.healthy ? "healthy" : "unhealthy") : "?"),
        ` ${b.target?.type}${b.target?.id ? `:${b.target.id}` : ""} `,
        h("span", { class: "muted" }, `${b.mode}, ${b.direction}, priority ${b.priority}` +
          (x ? `, ${x.onlineAgents} online` : "")));
    })));
}

// --- pools -----------------------------------------------------------------------

define("pools", {
  route: "/api/pools",
  async load(section) {
    const pools = await api("GET", "/api/pools");
    // The list may leave members out; each pool's own answer carries them.
    const full = await Promise.all(pools.map((p) => p.members ? p
      : api("GET", `/api/pools/${enc(p.name)}`).catch(() => p)));
    fill(section, full, (p) => p.name);
    addressesChanged();
  },
  count: (section) => section.items.size,
  draw(section) {
    section.list.dataset.empty = "No pools.";
    const status = (id) => agentsView.items.get(id)?.status || "offline";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.name.localeCompare(b.name)),
      (p) => p.name, (p) => h("li", { class: "row pool" },
        h("div", { class: "line" }, h("strong", {}, p.name), badge(p.strategy, "kind"),
          h("span", { class: "muted push" }, `${p.online ?? 0} online of ${(p.members || []).length}`)),
        h("div", { class: "line small" }, (p.members || []).map((m) =>
          h("span", { class: `chip is-${status(m.id)}` }, m.label || m.id)))),
      (p) => JSON.stringify([p, (p.members || []).map((m) => status(m.id))]));
  },
  on: {
    "pool.binding.changed": () => reloadSoon("pools"),
    "agent.status": () => touch("pools"),
  },
});

// --- recipes ---------------------------------------------------------------------

define("recipes", {
  route: "/api/recipes",
  async load(section) {
    fill(section, await api("GET", "/api/recipes"), (r) => r.name);
  },
  count: (section) => section.items.size,
  draw(section) {
    section.list.dataset.empty = "No recipes.";
    renderList(section.list, [...section.items.values()], (r) => r.name, (r) =>
      h("li", { class: "row recipe" },
        h("div", { class: "line" }, h("strong", {}, r.name),
          h("span", { class: "buttons push" }, button("start", "Start", `Start recipe ${r.name}`))),
        r.description ? h("p", { class: "body small" }, r.description) : null,
        h("div", { class: "line small" }, (r.roles || []).map((role) =>
          h("span", { class: "chip" }, `${role.role} (${role.provider})`)))));
  },
  act: {
    start: async (name) => {
      const orchestrators = [...orchestratorsView.items.keys()];
      const answer = await ask(`Start recipe ${name}`, [
        orchestrators.length
          ? { name: "orchestratorId", label: "Orchestrator", options: orchestrators, required: true }
          : { name: "orchestratorId", label: "Orchestrator id", required: true, max: 240 },
        { name: "cwd", label: "Directory", required: true, max: 500 }], "Start");
      if (!answer) return;
      await perform(api("POST", `/api/recipes/${enc(name)}/start`, answer),
                    (a) => `recipe ${name} started (instance ${a?.instance?.id ?? "?"})`);
    },
  },
});
