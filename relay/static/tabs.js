// tabs.js: the secondary panels (tasks, activity, commands, ...) share one place, one
// shown at a time; the choice is kept in this browser. Arrow keys move between tabs.

import { savedValue, store } from "./api.js";

const KEY = "relay.tab";

export function showTab(name) {
  const tabs = [...document.querySelectorAll("#tabs [role=tab]")];
  const chosen = tabs.find((t) => t.getAttribute("aria-controls") === name) || tabs[0];
  for (const tab of tabs) {
    const on = tab === chosen;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  }
  store(KEY, chosen.getAttribute("aria-controls"));
  return chosen;
}

export function setupTabs() {
  const list = document.getElementById("tabs");
  list.addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) showTab(tab.getAttribute("aria-controls"));
  });
  list.addEventListener("keydown", (event) => {
    const tabs = [...list.querySelectorAll("[role=tab]")];
    const at = tabs.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (at < 0 || !step) return;
    event.preventDefault();
    showTab(tabs[(at + step + tabs.length) % tabs.length].getAttribute("aria-controls")).focus();
  });
  showTab(savedValue(KEY) || "tasks");
}
