// main.js: the page's start: every panel, the tabs, buttons in rows, the token button.

import "./agents.js";
import "./activity.js";
import "./channels.js";
import "./commands.js";
import "./orchestrators.js";
import "./policies.js";
import "./pools.js";
import "./recipes.js";
import "./tasks.js";
import "./thread.js";
import { api, askToken } from "./api.js";
import { setupCompose } from "./compose.js";
import { tickUptime } from "./health.js";
import { resumeIdentity } from "./identity.js";
import { openStream, restart, setConnection } from "./live.js";
import "./messages.js";
import { notify } from "./notice.js";
import { SECTIONS } from "./sections.js";
import { setupTabs } from "./tabs.js";

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
  askToken("button").then((given) => { if (given) restart(); });
}

function start() {
  document.body.addEventListener("click", onAction);
  document.getElementById("token-button").onclick = tokenButton;
  setupTabs();
  setupCompose();
  for (const section of Object.values(SECTIONS)) section.setup?.(section);
  // The first call settles the token before the stream needs it.
  api("GET", "/api/stats").then(() => { resumeIdentity(); openStream(); }, (error) => {
    setConnection("offline", error.status === 401 ? "needs a token" : "offline", error.message);
    notify(error.message, { error: true, cause: "stream" });
    if (error.status !== 401) setTimeout(openStream, 1000);
  });
  setInterval(tickUptime, 1000);     // local clock only: no request
}

start();
