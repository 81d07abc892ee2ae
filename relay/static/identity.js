// identity.js: who the person at the page is on the relay. The dashboard registers an
// agent of kind `user` under a name the person picks once (kept in localStorage), so
// claim, read and send act as a real agent. A heartbeat keeps it present while open.

import { api, enc, savedValue, store } from "./api.js";
import { ask } from "./ask.js";

const KEY = "relay.me";
const HEARTBEAT_MS = 60000;
let name = savedValue(KEY);
let registered = null;         // the promise of this name's registration
let beat = null;
const listeners = [];

export const me = () => name;
export const onIdentity = (listener) => listeners.push(listener);

// A name taken by another kind of agent is refused: registering would take it over.
// (Read from the list: asking for an unknown id would log a 404 in the console.)
async function register(id) {
  const existing = (await api("GET", "/api/agents")).find((a) => a.id === id);
  if (existing && existing.kind !== "user") {
    throw new Error(`${id} is already an agent of kind ${existing.kind}; pick another name`);
  }
  return api("POST", "/api/agents", { id, kind: "user", label: existing?.label || id,
                                      status: "online" });
}

function heartbeat() {
  clearInterval(beat);
  beat = setInterval(() => {
    api("POST", `/api/agents/${enc(name)}/heartbeat`, {}).catch((error) => {
      if (error.status === 404) { registered = null; ensureMe().catch(() => {}); }
    });
  }, HEARTBEAT_MS);
}

// The registered name, asking for one the first time. Null when the person cancels.
export async function ensureMe() {
  if (!name) {
    const picked = await pick();
    if (!picked) return null;
  }
  if (!registered) {
    registered = register(name).then(() => { heartbeat(); return name; },
                                      (error) => { registered = null; throw error; });
  }
  return registered;
}

async function pick(why = "") {
  for (let note = why; ;) {
    const answer = await ask("Your name on this relay", [
      { name: "id", label: "Name", required: true, max: 240, value: name || "",
        hint: "e.g. alice (letters, digits . _ : @ + -)" }], "Use this name",
    note || "Claims, reads and messages from this page are made under this name, as an " +
            "agent of kind user. It stays in this browser.");
    if (!answer) return null;
    const id = answer.id.trim();
    try {
      await register(id);
    } catch (error) {
      note = error.message;
      continue;
    }
    name = id;
    store(KEY, id);
    registered = Promise.resolve(id);
    heartbeat();
    for (const listener of listeners) listener(id);
    return id;
  }
}

export const changeMe = () => pick();

// On start: a name kept from before is registered again (its presence), silently.
export function resumeIdentity() {
  if (name) ensureMe().catch(() => { registered = null; });
  for (const listener of listeners) listener(name);
}
