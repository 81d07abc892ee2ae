"use strict";
// app.js: the page kept current from /api/events, and its start.
//
// The stream is opened first and what it sends is held while the lists load, so
// nothing committed between a list's read and the stream's start is missed.
// After a dropped connection EventSource resumes with Last-Event-ID (the relay
// replays what was missed); `event: reset` reloads everything. No polling loop:
// lists are read on start, on reset, and when an event names something partly.

const live = {
  source: null,
  lastEventId: 0,
  held: null,            // events that arrived while the lists were loading
  loaded: false,
  retry: 1000,           // backoff when the stream is refused (EventSource gave up)
  retryTimer: null,
};

// API.md §10: every event moves the health numbers, handled or not.
const EVENT_TYPES = ["agent.status", "agent.removed", "message.new", "message.queued",
  "message.available", "message.expired", "message.claimed", "message.claim_released",
  "message.read", "message.deleted", "task.created", "task.updated", "task.event",
  "channel.activity", "pool.binding.changed", "pair.updated", "orchestrator.status",
  "orchestrator.removed", "command.created", "command.updated", "config.changed",
  "policy.state.changed", "activity.created", "system.broadcast"];

function setConnection(state, text) {
  const conn = document.getElementById("conn");
  conn.dataset.state = state;
  const label = document.getElementById("conn-text");
  label.textContent = text || state;
  label.title = label.textContent;
}

function streamUrl(since) {
  const params = new URLSearchParams();
  const token = currentToken();
  if (token) params.set("token", token);
  if (since) params.set("since", String(since));
  const query = params.toString();
  return "/api/events" + (query ? `?${query}` : "");
}

function openStream() {
  clearTimeout(live.retryTimer);
  if (live.source) live.source.close();
  setConnection("connecting", live.loaded ? "reconnecting" : "connecting");
  // A fresh EventSource resumes with ?since; its own reconnects send Last-Event-ID.
  const source = new EventSource(streamUrl(live.lastEventId));
  live.source = source;
  source.onopen = () => {
    live.retry = 1000;
    setConnection("live", "live");
    // With no event seen there is nothing to resume from: read everything again.
    if (!live.loaded || !live.lastEventId) loadAll();
    else load("health");
  };
  source.onerror = () => {
    if (source !== live.source) return;
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      streamRefused();
    } else {
      setConnection("reconnecting", "reconnecting");
    }
  };
  source.onmessage = (event) => receive("message", event);
  source.addEventListener("reset", () => {
    if (source !== live.source) return;
    notify("The event stream was reset; reloading everything.");
    loadAll();
  });
  for (const type of new Set([...EVENT_TYPES, ...Object.keys(HANDLERS)])) {
    source.addEventListener(type, (event) => receive(type, event));
  }
}

// EventSource gives up on an answer that is not a stream (401, 503) without
// saying why: ask the relay, say it in words, and open it again after a pause.
async function streamRefused() {
  setConnection("offline", "offline");
  try {
    await api("GET", "/api/stats");     // a 401 asks for the token here
    const why = await streamProblem();
    setConnection("offline", why ? `offline: ${why}; retrying` : "offline; retrying");
  } catch (error) {
    setConnection("offline", `offline: ${error.message}`);
    if (error.status === 401) return;   // no token given: the Token button starts again
  }
  live.retryTimer = setTimeout(openStream, live.retry);
  live.retry = Math.min(live.retry * 2, 30000);
}

// The relay's sentence for refusing the stream (503: no stream slot free), or null.
async function streamProblem() {
  const stop = new AbortController();
  try {
    const response = await fetch(streamUrl(0), { signal: stop.signal, cache: "no-store" });
    if (response.ok) return null;
    const answer = await response.json().catch(() => null);
    return answer?.error || `the stream answered ${response.status}`;
  } catch (error) {
    return error.message;
  } finally {
    stop.abort();
  }
}

function receive(type, event) {
  const id = Number(event.lastEventId);
  if (id > live.lastEventId) live.lastEventId = id;
  let envelope;
  try { envelope = JSON.parse(event.data); } catch { return; }
  if (live.held) live.held.push([type, envelope]);
  else apply(type, envelope);
}

function apply(type, envelope) {
  for (const handler of HANDLERS[type] || []) {
    try { handler(envelope.data || {}, envelope); } catch (error) { console.warn(type, error); }
  }
  healthSoon();
}

// One load at a time; a load asked for during another runs after it.
function loadAll() {
  live.loading = (live.loading || Promise.resolve()).then(loadEverything);
  return live.loading;
}

async function loadEverything() {
  live.held = [];
  await readSpec();
  await Promise.all(Object.keys(SECTIONS).map(load));
  const held = live.held;
  live.held = null;
  live.loaded = true;
  for (const [type, envelope] of held) apply(type, envelope);
  document.body.dataset.ready = "1";
}

// Health numbers follow events, at most once every two seconds.
let healthTimer = null;

function healthSoon() {
  if (!healthTimer) healthTimer = setTimeout(() => { healthTimer = null; load("health"); }, 2000);
}

// Buttons in lists: data-action on the button, data-key on its row.
function onAction(event) {
  const target = event.target.closest("[data-action]");
  if (!target) return;
  const row = target.closest("[data-key]");
  const section = SECTIONS[target.closest("[data-section]")?.dataset.section
                           || target.closest("section, dialog")?.id];
  const act = section?.act?.[target.dataset.action];
  if (act) act(row ? row.dataset.key : null, target, section);
}

function tokenButton() {
  askToken("button").then((given) => {
    if (!given) return;
    live.loaded = false;
    openStream();
  });
}

function start() {
  document.body.addEventListener("click", onAction);
  document.getElementById("token-button").onclick = tokenButton;
  for (const dialog of document.querySelectorAll("#thread")) {
    dialog.querySelector("[data-close]").onclick = () => dialog.close();
  }
  for (const section of Object.values(SECTIONS)) section.setup?.(section);
  // The first call settles the token before the stream needs it.
  api("GET", "/api/stats").then(openStream, (error) => {
    setConnection("offline", `offline: ${error.message}`);
    notify(error.message, true);
    if (error.status !== 401) live.retryTimer = setTimeout(openStream, live.retry);
  });
  setInterval(tickUptime, 1000);     // local clock only: no request
}

document.addEventListener("DOMContentLoaded", start);
