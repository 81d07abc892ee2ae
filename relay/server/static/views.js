"use strict";
// views.js: health, agents, messages (stream, compose, thread) and activity.

const MESSAGES_KEPT = 200;
const ACTIVITY_KEPT = 100;

// --- health (the header) ---------------------------------------------------------

const healthView = define("health", {
  root: document.getElementById("health"),
  data: null,
  loadedAt: 0,
  async load(section) {
    try {
      section.data = await api("GET", "/api/health");
    } catch (error) {
      if (error.status !== 503 || !error.data?.db) throw error;
      section.data = error.data;         // degraded: the database cannot be read
    }
    section.loadedAt = Date.now();
  },
  draw(section) {
    const d = section.data;
    if (!d) return;
    const put = (key, text, title) => {
      const cell = document.querySelector(`#health [data-k="${key}"]`);
      cell.textContent = text;
      if (title) cell.title = title;
    };
    const c = d.counts || {}, s = d.streams || {}, db = d.db || {};
    put("version", d.version + (d.status === "ok" ? "" : ` (${d.status})`));
    put("online", c.agentsOnline ?? "–");
    put("messages", c.messages ?? "–");
    put("queued", c.queued ?? "–");
    put("tasks", c.openTasks ?? "–");
    put("streams", `${(s.sse ?? 0) + (s.ws ?? 0)}/${s.max ?? "–"}`,
        `event streams ${s.sse ?? 0}, websockets ${s.ws ?? 0}, held polls ${s.poll ?? 0}, ` +
        `limit ${s.max ?? "–"}`);
    if (db.ok === false) put("db", "unreadable", db.error || "the database cannot be read");
    else put("db", bytes((db.sizeBytes || 0) + (db.walBytes || 0)),
        `${db.path || ""}: ${bytes(db.sizeBytes)} + WAL ${bytes(db.walBytes)}` +
        (d.lastReapAt ? `; last reap ${new Date(d.lastReapAt).toLocaleTimeString()}` : ""));
    document.getElementById("health").dataset.status = d.status;
    tickUptime();
  },
});

function tickUptime() {
  const d = healthView.data;
  if (!d || d.uptimeSeconds === undefined) return;
  const seconds = d.uptimeSeconds + (Date.now() - healthView.loadedAt) / 1000;
  document.querySelector('#health [data-k="uptime"]').textContent = duration(seconds);
}

// --- agents --------------------------------------------------------------------

const agentsView = define("agents", {
  async load(section) {
    fill(section, await api("GET", "/api/agents"), (a) => a.id);
    addressesChanged();
  },
  setup(section) {
    section.root.querySelector("#agent-filter").addEventListener("input", () => touch("agents"));
    section.root.querySelector("#agent-filter").addEventListener("submit", (e) => e.preventDefault());
  },
  count: (section) => section.items.size,
  draw(section) {
    const form = section.root.querySelector("#agent-filter");
    const status = form.elements.status.value, tag = form.elements.tag.value.trim();
    const shown = [...section.items.values()]
      .filter((a) => (!status || a.status === status) && (!tag || a.tags.includes(tag)))
      .sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status)
                      || a.id.localeCompare(b.id));
    section.list.dataset.empty = section.items.size ? "No agent matches the filter." : "No agents yet.";
    renderList(section.list, shown, (a) => a.id, agentRow);
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

const STATUS_ORDER = ["busy", "online", "idle", "stale", "offline"];

function agentRow(a) {
  const managed = a.meta && a.meta.orchestratorId && serves("POST", "/api/agents/{agent_id}/actions");
  return h("li", { class: `row agent is-${a.status}` },
    h("div", { class: "line" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { class: "name" }, a.label || a.name || a.id),
      a.label || a.name !== a.id ? h("span", { class: "muted" }, a.id) : null,
      badge(a.status), a.kind !== "provider" ? badge(a.kind, "kind") : null,
      a.ready === false ? badge("not ready") : null),
    h("div", { class: "line small" },
      chips(a.tags, "#"), chips(a.capabilities, "cap:"),
      h("span", { class: "muted push" }, "seen ", when(a.lastSeen))),
    managed ? h("div", { class: "buttons" },
      h("span", { class: "muted small" }, `managed by ${a.meta.orchestratorId}`),
      button("restart", "Restart", `Restart agent ${a.id}`),
      button("shutdown", "Shut down", `Shut down agent ${a.id}`)) : null);
}

async function agentAction(id, action) {
  const answer = await perform(
    api("POST", `/api/agents/${enc(id)}/actions`, { action, reason: "from the dashboard" })
      .catch((error) => {
        if (error.missing) throw new Error("Agent actions are not available on this relay.");
        throw error;
      }),
    (a) => `${action} of ${id} queued (command ${a.command?.id || "?"})`);
  if (answer?.command) upsertCommand(answer.command);
}

// The To field's suggestions: agents and the group addresses they make up.
function addressesChanged() {
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

// --- messages ------------------------------------------------------------------

const messagesView = define("messages", {
  async load(section) {
    fill(section, await api("GET", `/api/messages?limit=${MESSAGES_KEPT}`), (m) => m.id);
  },
  setup(section) {
    const form = document.getElementById("compose");
    form.elements.from.value = localStorage.getItem("relay.from") || "dashboard";
    form.addEventListener("submit", (event) => { event.preventDefault(); compose(form); });
    // Claim and read buttons act as the From field's agent: their labels follow it.
    form.elements.from.addEventListener("change", () => { touch("messages"); touch("tasks"); });
    document.getElementById("reply-cancel").onclick = () => replyTo(null);
  },
  count: (section) => section.items.size,
  draw(section) {
    const shown = [...section.items.values()].sort((a, b) => b.id - a.id);
    for (const old of shown.slice(MESSAGES_KEPT)) section.items.delete(String(old.id));
    section.list.dataset.empty = "No messages yet.";
    renderList(section.list, shown.slice(0, MESSAGES_KEPT), (m) => m.id, messageRow, messageSig);
    if (threadView.root.open) threadView.refresh();
  },
  on: {
    "message.new": upsertMessage,
    "message.queued": upsertMessage,
    "message.claimed": upsertMessage,
    "message.claim_released": upsertMessage,
    "message.read": upsertMessage,
    "message.expired": upsertMessage,
    "message.available": () => reloadSoon("messages"),     // names ids, not messages
    "message.deleted": (data) => {
      messagesView.items.delete(String(data.messageId));
      touch("messages");
    },
  },
  act: {
    thread: (id) => threadView.show(Number(id)),
    reply: (id) => replyTo(messagesView.items.get(id) || threadView.items.get(id)),
    claim: (id) => perform(api("POST", `/api/messages/${id}/claim`, { agentId: me() }),
                           `message #${id} claimed by ${me()}`),
    release: (id) => perform(api("POST", `/api/messages/${id}/release`, { agentId: me() }),
                             `claim on #${id} released`),
    read: (id) => perform(api("POST", `/api/messages/${id}/read`, { agentId: me() }),
                          `message #${id} marked read by ${me()}`),
  },
});

function upsertMessage(message) {
  if (message.id === undefined) return;
  messagesView.items.set(String(message.id), message);
  touch("messages");
}

// What a message's row shows that can change (its body never does), and who acts.
function messageSig(m) {
  return [m.id, m.claimedBy, m.claimExpiresAt, m.readBy.join(), m.deliveryStatus,
          m.resolvedToAgent, me()].join("|");
}

function messageRow(m) {
  const now = Date.now();
  const held = m.claimedBy && (!m.claimExpiresAt || m.claimExpiresAt > now);
  const claim = m.claimable
    ? (held ? h("span", { class: "claim is-held" }, `claimed by ${m.claimedBy}`,
                m.claimExpiresAt ? [" until ", when(m.claimExpiresAt)] : null)
            : h("span", { class: "claim" }, "claimable, unclaimed"))
    : null;
  const delivery = m.deliveryStatus !== "delivered" ? badge(m.deliveryStatus)
    : m.resolvedToAgent && m.resolvedToAgent !== m.to ? h("span", { class: "muted" }, `→ ${m.resolvedToAgent}`)
      : null;
  const mine = me();
  return h("li", { class: `row message kind-${m.kind.replace(".", "-")}` },
    h("div", { class: "line" },
      badge(m.kind, "kind"),
      h("strong", {}, m.from), h("span", { class: "arrow", "aria-label": "to" }, "→"),
      h("strong", {}, m.to), delivery,
      h("span", { class: "muted push" }, `#${m.id}`, m.replyTo ? ` ↩ #${m.replyTo}` : "", " ",
        when(m.createdAt))),
    m.subject ? h("div", { class: "subject" }, m.subject) : null,
    h("p", { class: "body" }, preview(m.body)),
    h("div", { class: "line small" }, claim,
      m.readBy.length ? h("span", { class: "muted" }, `read by ${m.readBy.join(", ")}`) : null,
      h("span", { class: "buttons push" },
        button("thread", "Thread", `Show the thread of message #${m.id}`),
        button("reply", "Reply", `Reply to message #${m.id}`),
        m.claimable && !held ? button("claim", "Claim", `Claim message #${m.id} as ${mine}`) : null,
        held && m.claimedBy === mine ? button("release", "Release", `Release message #${m.id}`) : null,
        m.readBy.includes(mine) ? null : button("read", "Mark read", `Mark message #${m.id} read as ${mine}`))));
}

function replyTo(message) {
  const form = document.getElementById("compose");
  const marker = document.getElementById("reply-to");
  form.dataset.replyTo = message ? message.id : "";
  marker.hidden = !message;
  if (!message) return;
  marker.querySelector("span").textContent = message.id;
  form.elements.to.value = message.from === me() ? message.to : message.from;
  if (message.subject && !form.elements.subject.value) {
    form.elements.subject.value = message.subject.startsWith("Re: ") ? message.subject
      : `Re: ${message.subject}`;
  }
  if (threadView.root.open) threadView.root.close();
  form.elements.body.focus();
}

async function compose(form) {
  const error = form.querySelector("[data-error]");
  const f = form.elements;
  const message = { from: f.from.value.trim(), to: f.to.value.trim(), body: f.body.value,
                    claimable: f.claimable.checked };
  if (f.subject.value.trim()) message.subject = f.subject.value.trim();
  if (form.dataset.replyTo) message.replyTo = Number(form.dataset.replyTo);
  const send = form.querySelector("[type=submit]");
  send.disabled = true;
  try {
    const sent = await api("POST", "/api/messages", message);
    localStorage.setItem("relay.from", message.from);
    messagesView.items.set(String(sent.id), sent);
    touch("messages");
    showError(error, null);
    f.body.value = "";
    f.subject.value = "";
    f.claimable.checked = false;
    replyTo(null);
    notify(`message #${sent.id} sent to ${sent.to}` +
           (sent.deliveryStatus === "queued" ? " (queued until it can be delivered)" : ""));
  } catch (failure) {
    showError(error, failure);
  } finally {
    send.disabled = false;
  }
}

// --- the thread dialog ------------------------------------------------------------

const threadView = define("thread", {
  threadId: null,
  async load() {},
  draw(section) {
    section.list.dataset.empty = "Loading…";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.id - b.id),
               (m) => m.id, messageRow, messageSig);
  },
  async show(id) {
    this.items = new Map();
    this.threadId = null;
    showError(this.error, null);
    this.root.querySelector("h2").textContent = `Thread of #${id}`;
    if (!this.root.open) this.root.showModal();
    try {
      const thread = await api("GET", `/api/messages/${id}/thread`);
      this.threadId = thread.length ? thread[0].threadId : id;
      fill(this, thread, (m) => m.id);
    } catch (error) {
      showError(this.error, error);
    }
    touch("thread");
  },
  // Live: messages of the open thread that arrive are added to it.
  refresh() {
    for (const m of messagesView.items.values()) {
      if (m.threadId === this.threadId) this.items.set(String(m.id), m);
    }
    touch("thread");
  },
  act: messagesView.act,
});

// --- activity --------------------------------------------------------------------

const activityView = define("activity", {
  async load(section) {
    fill(section, await api("GET", `/api/activity?limit=${ACTIVITY_KEPT}`), (e) => e.id);
  },
  draw(section) {
    const shown = [...section.items.values()].sort((a, b) => b.id - a.id);
    for (const old of shown.slice(ACTIVITY_KEPT)) section.items.delete(String(old.id));
    section.list.dataset.empty = "Nothing has happened yet.";
    renderList(section.list, shown.slice(0, ACTIVITY_KEPT), (e) => e.id, (e) =>
      h("li", { class: `row activity kind-${e.kind}` },
        h("div", { class: "line" }, badge(e.kind, "kind"), h("strong", {}, e.title),
          h("span", { class: "muted push" }, when(e.createdAt))),
        e.body ? h("p", { class: "body small" }, preview(e.body, 160)) : null));
  },
  on: {
    "activity.created": (entry) => {
      activityView.items.set(String(entry.id), entry);
      touch("activity");
    },
  },
});
