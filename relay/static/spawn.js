// spawn.js: the spawn form: an orchestrator, one of its providers, a directory picked
// from its listing (proxied by the relay), a label, the approval mode and a prompt.

import { api, enc } from "./api.js";
import { upsertCommand } from "./commands.js";
import { h, showError } from "./dom.js";
import { notify } from "./notice.js";

let known = new Map();

export function setupSpawn() {
  const form = document.getElementById("spawn");
  form.elements.orchestrator.addEventListener("change", () => spawnOptions(form, known));
  form.addEventListener("submit", (event) => { event.preventDefault(); spawn(form); });
  document.getElementById("browse").onclick = () => browse(form, form.elements.cwd.value.trim());
}

export function spawnOptions(form, orchestrators) {
  known = orchestrators;
  const select = form.elements.orchestrator;
  const chosen = select.value;
  const ids = [...orchestrators.keys()].sort();
  if (select.options.length !== ids.length || ids.some((id, i) => select.options[i].value !== id)) {
    select.replaceChildren(...ids.map((id) => h("option", { value: id }, id)));
    if (ids.includes(chosen)) select.value = chosen;
  }
  const providers = orchestrators.get(select.value)?.providers || [];
  const provider = form.elements.provider;
  if ([...provider.options].map((o) => o.value).join() !== providers.join()) {
    const was = provider.value;
    provider.replaceChildren(...providers.map((p) => h("option", { value: p }, p)));
    if (providers.includes(was)) provider.value = was;
  }
}

// The orchestrator's directory listing: a list of names or paths, or an object carrying
// one (directories, entries, dirs) and a parent.
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
