// api.js: calls to the relay's API: the token, a timeout on every call, errors in words.

const TOKEN_KEY = "relay.token";
export const TIMEOUT_MS = 15000;     // no call waits longer than this for the relay

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;                // the answer's body, when it had one
  }
}

function stored(key) {
  try { return localStorage.getItem(key) || ""; } catch { return ""; }
}

export function store(key, value) {
  try {
    if (value) localStorage.setItem(key, value); else localStorage.removeItem(key);
  } catch { /* storage refused (private mode): the value lives until reload */ }
}

let memoryToken = stored(TOKEN_KEY);
export const currentToken = () => memoryToken;
export const savedValue = stored;

// fetch with a deadline: a relay that never answers is an error in words, not a hang.
export async function timedFetch(path, init = {}, ms = TIMEOUT_MS) {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  try {
    return await fetch(path, { ...init, signal: stop.signal });
  } catch (error) {
    if (stop.signal.aborted) throw new ApiError(0, `the relay did not answer within ${ms / 1000} s`);
    throw new ApiError(0, `the relay cannot be reached (${error.message})`);
  } finally {
    clearTimeout(timer);
  }
}

function headersFor(token, withBody) {
  const headers = { Accept: "application/json" };
  if (token) headers["X-Agent-Relay-Token"] = token;
  if (withBody) headers["Content-Type"] = "application/json";
  return headers;
}

// Whether the relay accepts this token (asked before it is kept).
export async function tokenWorks(token) {
  const response = await timedFetch("/api/stats", { headers: headersFor(token), cache: "no-store" });
  return response.status !== 401;
}

// --- the token question: one at a time; once cancelled, asked again only by the button ---

let asking = null;
let declined = false;

const WHY = {
  asked: "This relay asks for a token (AGENT_RELAY_TOKEN).",
  button: "The token this page sends to the relay (AGENT_RELAY_TOKEN); it stays in this browser.",
};

export function askToken(why) {
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
  const said = dialog.querySelector("#token-why");
  said.textContent = why;
  form.reset();
  const done = (given) => {
    form.onsubmit = null;
    dialog.onclose = null;
    if (dialog.open) dialog.close();
    resolve(given);
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    if (!token) return;
    // A refused token is never kept: the question stays, saying why.
    let works = false;
    try { works = await tokenWorks(token); } catch (error) { said.textContent = error.message; return; }
    if (!works) {
      said.textContent = "The relay refused that token. Enter the right one (AGENT_RELAY_TOKEN).";
      form.elements.token.select();
      return;
    }
    memoryToken = token;
    store(TOKEN_KEY, token);
    done(true);
  };
  dialog.querySelector("[data-close]").onclick = () => done(false);
  dialog.onclose = () => done(false);            // Escape
  dialog.showModal();
  form.elements.token.focus();
}

// A call to the relay's API: the parsed JSON answer, or an ApiError whose message
// is the relay's own sentence. A 401 asks for the token and tries again.
export async function api(method, path, body) {
  for (;;) {
    const token = currentToken();
    const init = { method, headers: headersFor(token, body !== undefined), cache: "no-store" };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await timedFetch(path, init);
    if (response.status === 401) {
      if (await askToken("asked")) continue;
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

export const enc = encodeURIComponent;

// "/api/x?a=1&b=2" from a path and the parameters that have a value.
export function query(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) {
      search.set(key, value === true ? "1" : String(value));
    }
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
