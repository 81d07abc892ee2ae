// live.js: the page kept current from /api/events.
//
// The stream is opened first and what it sends is held while the lists load, so
// nothing committed between a list's read and the stream's start is missed.
// After a dropped connection EventSource resumes with Last-Event-ID (the relay
// replays what was missed); `event: reset` reloads everything. No polling loop:
// lists are read on start, on reset, and when an event names something partly.
// The page listens at once to the types it handles; the other types (which only
// move the health numbers) are added once the OpenAPI document names them.

import { api, currentToken, timedFetch } from "./api.js";
import { clearNotice, notify } from "./notice.js";
import { HANDLERS, SECTIONS, load } from "./sections.js";
import { eventTypes, readSpec, specRead } from "./spec.js";

const live = {
  source: null,
  lastEventId: 0,
  held: null,            // events that arrived while the lists were loading
  loaded: false,
  retry: 1000,           // backoff when the stream is refused (EventSource gave up)
  retryTimer: null,
  heard: new Set(),      // the types the current source listens to
};

export function setConnection(state, text, why) {
  const conn = document.getElementById("conn");
  conn.dataset.state = state;
  const label = document.getElementById("conn-text");
  label.textContent = text || state;
  conn.title = why || label.textContent;
}

function streamUrl(since) {
  const params = new URLSearchParams();
  const token = currentToken();
  if (token) params.set("token", token);
  if (since) params.set("since", String(since));
  const text = params.toString();
  return "/api/events" + (text ? `?${text}` : "");
}

function listen(source, types) {
  for (const type of types) {
    if (live.heard.has(type)) continue;
    live.heard.add(type);
    source.addEventListener(type, (event) => receive(type, event));
  }
}

export function openStream() {
  clearTimeout(live.retryTimer);
  if (live.source) live.source.close();
  setConnection("connecting", live.loaded ? "reconnecting" : "connecting");
  // A fresh EventSource resumes with ?since; its own reconnects send Last-Event-ID.
  const source = new EventSource(streamUrl(live.lastEventId));
  live.source = source;
  live.heard = new Set();
  source.onopen = () => {
    live.retry = 1000;
    setConnection("live", "live");
    clearNotice("stream");
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
  source.addEventListener("reset", () => {
    if (source !== live.source) return;
    notify("The event stream was reset; reloading everything.");
    loadAll();
  });
  listen(source, [...Object.keys(HANDLERS), ...eventTypes()]);
}

// EventSource gives up on an answer that is not a stream (401, 503) without
// saying why: ask the relay, say it in words, and open it again after a pause.
async function streamRefused() {
  setConnection("offline", "offline");
  try {
    await api("GET", "/api/stats");     // a 401 asks for the token here
    const why = await streamProblem();
    setConnection("offline", "offline; retrying", why ? `offline: ${why}; retrying` : null);
    if (why) notify(`The event stream is refused: ${why}. Retrying.`, { error: true, cause: "stream" });
  } catch (error) {
    setConnection("offline", error.status === 401 ? "needs a token" : "offline", error.message);
    notify(error.message, { error: true, cause: "stream" });
    if (error.status === 401) return;   // no token given: the Token button starts again
  }
  live.retryTimer = setTimeout(openStream, live.retry);
  live.retry = Math.min(live.retry * 2, 30000);
}

// The relay's sentence for refusing the stream (503: no stream slot free), or null.
async function streamProblem() {
  try {
    const response = await timedFetch(streamUrl(0), { cache: "no-store" });
    if (response.ok) { response.body?.cancel(); return null; }
    const answer = await response.json().catch(() => null);
    return answer?.error || `the stream answered ${response.status}`;
  } catch (error) {
    return error.message;
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
export function loadAll() {
  live.loading = (live.loading || Promise.resolve()).then(loadEverything);
  return live.loading;
}

async function loadEverything() {
  live.held = [];
  await Promise.all(Object.keys(SECTIONS).map(load));
  const held = live.held;
  live.held = null;
  live.loaded = true;
  for (const [type, envelope] of held) apply(type, envelope);
  document.body.dataset.ready = "1";
  if (!specRead()) {
    await readSpec();
    if (live.source) listen(live.source, eventTypes());
  }
}

// Health numbers follow events, at most once every two seconds.
let healthTimer = null;

function healthSoon() {
  if (!healthTimer) healthTimer = setTimeout(() => { healthTimer = null; load("health"); }, 2000);
}

export function restart() {
  live.loaded = false;
  openStream();
}
