"use strict";
// core.js: calls to the relay (the token, errors in words) and small DOM helpers.
// Every other script uses these; nothing here knows about a resource.

const TOKEN_KEY = "relay.token";

class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;           // the answer's body, when it had one
    // A 404 "no route for ..." means this relay does not serve that resource (yet).
    this.missing = status === 404 && message.startsWith("no route for ");
  }
}

function savedToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

function saveToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage refused (private mode): the token lives until reload */ }
  memoryToken = token;
}

let memoryToken = savedToken();
const currentToken = () => memoryToken;

// One question at a time: every call that meets a 401 waits for the same answer.
// Once the person cancels, 401s stop asking until they press the Token button.
let asking = null;
let declined = false;

const WHY = {
  asked: "This relay asks for a token (AGENT_RELAY_TOKEN).",
  refused: "The relay refused that token. Enter the right one (AGENT_RELAY_TOKEN).",
  button: "The token this page sends to the relay (AGENT_RELAY_TOKEN); it stays in this browser.",
};

function askToken(why) {
  if (declined && why !== "button") return Promise.resolve(false);
  if (!asking) {
    asking = new Promise((resolve) => openTokenDialog(WHY[why], resolve))
      .then((given) => { declined = !given; return given; })
      .finally(() => { asking = null; });
  }
  return asking;
}

function openTokenDialog(why, resolve) {
  const dialog = document.getElementById("token");
  const form = dialog.querySelector("form");
  dialog.querySelector("#token-why").textContent = why;
  form.reset();
  const done = (given) => {
    form.onsubmit = null;
    dialog.onclose = null;
    if (dialog.open) dialog.close();
    resolve(given);
  };
  form.onsubmit = (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    if (!token) return;
    saveToken(token);
    done(true);
  };
  dialog.querySelector("[data-close]").onclick = () => done(false);
  dialog.onclose = () => done(false);            // Escape
  dialog.showModal();
  form.elements.token.focus();
}

// A call to the relay's API: the parsed JSON answer, or an ApiError whose message
// is the relay's own sentence. A 401 asks for the token and tries again.
async function api(method, path, body) {
  for (;;) {
    const token = currentToken();
    const headers = { Accept: "application/json" };
    if (token) headers["X-Agent-Relay-Token"] = token;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, `the relay cannot be reached (${error.message})`);
    }
    if (response.status === 401) {
      if (await askToken(token ? "refused" : "asked")) continue;
      throw new ApiError(401, "this relay needs a token: use the Token button");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const said = data && typeof data.error === "string"
        ? data.error + (data.requestId ? ` (request ${data.requestId})` : "")
        : `the relay answered ${response.status} ${response.statusText}`.trim();
      throw new ApiError(response.status, said, data);
    }
    return data;
  }
}

const enc = encodeURIComponent;

// --- DOM ------------------------------------------------------------------------

// h("li", {class: "x", "data-key": 1}, "text", child): text is always text, never HTML.
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function button(action, text, label, extra) {
  return h("button", { type: "button", "data-action": action, "aria-label": label || null,
                       class: "small", ...(extra || {}) }, text);
}

// Keeps `container`'s children equal to `items`, in order. A child is rebuilt only
// when its signature changed, so unchanged rows keep their place and their focus.
function renderList(container, items, keyOf, build, sigOf = (item) => JSON.stringify(item)) {
  const old = container.nodes || new Map();
  const next = new Map();
  let previous = null;
  for (const item of items) {
    const key = String(keyOf(item));
    const sig = sigOf(item);
    let node = old.get(key);
    if (!node || node.sig !== sig) {
      const fresh = build(item);
      fresh.sig = sig;
      fresh.dataset.key = key;
      if (node) {
        const focused = node.contains(document.activeElement)
          && document.activeElement.getAttribute("data-action");
        node.replaceWith(fresh);
        if (focused) fresh.querySelector(`[data-action="${focused}"]`)?.focus();
      }
      node = fresh;
    }
    next.set(key, node);
    const wanted = previous ? previous.nextSibling : container.firstChild;
    if (wanted !== node) container.insertBefore(node, wanted);
    previous = node;
  }
  for (const [key, node] of old) if (!next.has(key)) node.remove();
  container.nodes = next;
}

function showError(where, error) {
  if (!where) return;
  where.textContent = error ? (error.message || String(error)) : "";
  where.hidden = !error;
}

// --- the notice: what happened after a button, or what went wrong ---------------

let noticeTimer = null;

function notify(text, isError) {
  const notice = document.getElementById("notice");
  notice.replaceChildren(h("span", {}, text),
    h("button", { type: "button", class: "quiet small", "aria-label": "Dismiss" }, "×"));
  notice.lastChild.onclick = () => { notice.hidden = true; };
  notice.className = "notice" + (isError ? " is-error" : "");
  notice.hidden = false;
  clearTimeout(noticeTimer);
  // Errors stay until dismissed or replaced: they are never lost unread.
  if (!isError) noticeTimer = setTimeout(() => { notice.hidden = true; }, 6000);
}

// --- formats ------------------------------------------------------------------

function clock(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour12: false })
    : date.toLocaleString([], { hour12: false, month: "short", day: "numeric",
                                hour: "2-digit", minute: "2-digit" });
}

function when(ms) {
  return h("time", { datetime: ms ? new Date(ms).toISOString() : null,
                     title: ms ? new Date(ms).toLocaleString() : null }, clock(ms));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = Math.floor(seconds / 86400), hr = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""} is-${String(text).replace(/\W+/g, "-")}` }, text);
}

function chips(values, prefix) {
  return (values || []).map((v) => h("span", { class: "chip" }, prefix ? `${prefix}${v}` : v));
}

function preview(text, length = 240) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
}

// ask("Title", [{name, label, type?, options?, required?, value?}]): the answers, or
// null when the person cancels. One small form in a dialog, keyboard first.
function ask(title, fields, submitText = "OK") {
  const dialog = document.getElementById("ask");
  const form = dialog.querySelector("form");
  form.querySelector("h2").textContent = title;
  const inputs = fields.map((f) => {
    const control = f.options
      ? h("select", { name: f.name, required: f.required }, f.options.map((o) => h("option", {}, o)))
      : f.type === "textarea"
        ? h("textarea", { name: f.name, rows: 3, required: f.required, maxlength: f.max })
        : h("input", { name: f.name, type: f.type || "text", required: f.required,
                       min: f.min, max: f.max && f.type === "number" ? f.max : null,
                       maxlength: f.type !== "number" ? f.max : null, autocomplete: "off" });
    if (f.value !== undefined) control.value = f.value;
    return h("label", {}, f.label, " ", control);
  });
  form.querySelector("[data-fields]").replaceChildren(...inputs);
  form.querySelector("[type=submit]").textContent = submitText;
  return new Promise((resolve) => {
    const done = (values) => {
      form.onsubmit = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(values);
    };
    form.onsubmit = (event) => {
      event.preventDefault();
      done(Object.fromEntries(fields.map((f) => [f.name, form.elements[f.name].value])));
    };
    dialog.querySelector("[data-close]").onclick = () => done(null);
    dialog.onclose = () => done(null);
    dialog.showModal();
    form.querySelector("input, select, textarea")?.focus();
  });
}

// --- sections: each view registers what it loads, draws, hears and does ----------

const SECTIONS = {};
const HANDLERS = {};          // event type -> [handler(data, event)]

function define(name, spec) {
  const root = document.getElementById(name);
  const section = { name, root, items: new Map(), missing: false, ...spec,
                    list: root && root.querySelector("[data-list]"),
                    error: root && root.querySelector(":scope > [data-error]") };
  SECTIONS[name] = section;
  for (const [type, handler] of Object.entries(spec.on || {})) {
    (HANDLERS[type] = HANDLERS[type] || []).push(handler);
  }
  return section;
}

let drawing = null;

// Draw the section at the next frame; many events in one frame draw it once.
function touch(name) {
  SECTIONS[name].dirty = true;
  if (!drawing) drawing = requestAnimationFrame(drawDirty);
}

function drawDirty() {
  drawing = null;
  for (const section of Object.values(SECTIONS)) {
    if (!section.dirty) continue;
    section.dirty = false;
    try {
      section.draw(section);
      const count = section.root?.querySelector("[data-count]");
      if (count && section.count) count.textContent = section.missing ? "" : section.count(section);
    } catch (error) {
      showError(section.error, error);
    }
  }
}

// A section whose route this relay does not have shows its note and nothing else.
function markMissing(section, missing) {
  section.missing = missing;
  section.root?.classList.toggle("is-missing", missing);
  const note = section.root?.querySelector("[data-missing]");
  if (note) note.hidden = !missing;
}

// What this relay serves, from its OpenAPI document (public): a section whose route
// is not there is shown as not available without asking (a 404 would say the same).
let served = null;          // Set of "GET /api/tasks", or null when the document is unknown

async function readSpec() {
  try {
    const spec = await api("GET", "/api/spec");
    served = new Set(Object.entries(spec.paths || {}).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${anyParam(path)}`)));
  } catch {
    served = null;          // an older relay: each section finds out from its own call
  }
}

// Path parameters compare by place, not name: /api/agents/{id}/actions.
const anyParam = (path) => path.replace(/\{[^}]*\}/g, "{}");

function serves(method, path) {
  return !served || served.has(`${method} ${anyParam(path)}`);
}

async function load(name) {
  const section = SECTIONS[name];
  if (section.route && !serves("GET", section.route)) {
    markMissing(section, true);
    touch(name);
    return;
  }
  try {
    await section.load(section);
    markMissing(section, false);
    showError(section.error, null);
  } catch (error) {
    if (error.missing) markMissing(section, true);
    else if (section.error) showError(section.error, new Error(`Could not load: ${error.message}`));
    else notify(`Could not load ${name}: ${error.message}`, true);
  }
  touch(name);
}

// Replace a section's items with a fresh list from the relay.
function fill(section, list, keyOf) {
  section.items = new Map((list || []).map((item) => [String(keyOf(item)), item]));
}

// Debounced reloads, for events that do not carry the whole object.
const reloading = {};

function reloadSoon(name, delay = 300) {
  clearTimeout(reloading[name]);
  reloading[name] = setTimeout(() => load(name), delay);
}

// Who the person at the page acts as (claims, reads, sends): the From field.
function me() {
  return document.querySelector("#compose [name=from]").value.trim() || "dashboard";
}

// Run a button's call: its answer as a notice, its failure in words.
async function perform(promise, success) {
  try {
    const answer = await promise;
    if (success) notify(typeof success === "function" ? success(answer) : success);
    return answer;
  } catch (error) {
    notify(error.message, true);
    return null;
  }
}
