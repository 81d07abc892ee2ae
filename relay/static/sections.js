// sections.js: each panel registers what it loads, draws, hears and does; this draws
// changed panels once a frame and keeps their counts (in the panel and on its tab).

import { api } from "./api.js";
import { showError } from "./dom.js";
import { clearNotice, notify } from "./notice.js";

export const SECTIONS = {};
export const HANDLERS = {};          // event type -> [handler(data, envelope)]

export function define(name, spec) {
  const root = document.getElementById(name);
  const section = { name, root, items: new Map(), ...spec,
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
export function touch(name) {
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
      if (section.count) {
        const text = String(section.count(section));
        for (const node of document.querySelectorAll(
          `#${section.name} [data-count], [data-count-for="${section.name}"]`)) {
          node.textContent = text;
        }
      }
    } catch (error) {
      showError(section.error, error);
    }
  }
}

export async function load(name) {
  const section = SECTIONS[name];
  try {
    await section.load(section);
    showError(section.error, null);
    clearNotice(`load:${name}`);
  } catch (error) {
    if (section.error) showError(section.error, new Error(`Could not load: ${error.message}`));
    else notify(`Could not load ${name}: ${error.message}`, { error: true, cause: `load:${name}` });
  }
  touch(name);
}

// Replace a section's items with a fresh list from the relay.
export function fill(section, list, keyOf) {
  section.items = new Map((list || []).map((item) => [String(keyOf(item)), item]));
}

// A section that is one list route: its load and its count.
export function listed(route, keyOf, then = () => {}) {
  return {
    async load(section) {
      fill(section, await api("GET", route), keyOf);
      then(section);
    },
    count: (section) => section.items.size,
  };
}

// Debounced reloads, for events that do not carry the whole object.
const reloading = {};

export function reloadSoon(name, delay = 300) {
  clearTimeout(reloading[name]);
  reloading[name] = setTimeout(() => load(name), delay);
}
