// recipes.js: the recipes, and starting one: an orchestrator, a directory and the
// recipe's vars (its defaults filled in; a var without a default is required).

import { api, enc } from "./api.js";
import { ask } from "./ask.js";
import { button, h, renderList } from "./dom.js";
import { perform } from "./notice.js";
import { SECTIONS, define, listed } from "./sections.js";

define("recipes", {
  ...listed("/api/recipes", (r) => r.name),
  draw(section) {
    section.list.dataset.empty = "No recipes.";
    renderList(section.list, [...section.items.values()], (r) => r.name, (r) =>
      h("li", { class: "row recipe" },
        h("div", { class: "line" }, h("strong", { class: "name" }, r.name),
          h("span", { class: "buttons push" }, button("start", "Start", `Start recipe ${r.name}`))),
        r.description ? h("p", { class: "body small" }, r.description) : null,
        h("div", { class: "line small" }, (r.roles || []).map((role) =>
          h("span", { class: "chip" }, `${role.role} (${role.provider})`)))));
  },
  act: { start: (name) => start(SECTIONS.recipes.items.get(name)) },
});

async function start(recipe) {
  const orchestrators = [...SECTIONS.orchestrators.items.keys()].sort();
  const vars = Object.entries(recipe.vars || {});
  const answer = await ask(`Start recipe ${recipe.name}`, [
    orchestrators.length
      ? { name: "orchestratorId", label: "Orchestrator", options: orchestrators, required: true }
      : { name: "orchestratorId", label: "Orchestrator id", required: true, max: 240 },
    { name: "cwd", label: "Directory", required: true, max: 500 },
    ...vars.map(([key, value]) => ({ name: `var:${key}`, label: key, required: value === null,
                                     value: value ?? "", max: 4000 }))], "Start");
  if (!answer) return;
  const body = { orchestratorId: answer.orchestratorId, cwd: answer.cwd,
                 vars: Object.fromEntries(vars.map(([key]) => [key, answer[`var:${key}`]])) };
  await perform(api("POST", `/api/recipes/${enc(recipe.name)}/start`, body),
                (a) => `recipe ${recipe.name} started (instance ${a?.instance?.id ?? a?.id ?? "?"})`);
}
