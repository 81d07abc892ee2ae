// ask.js: ask("Title", [{name, label, type?, options?, required?, value?, hint?}]): the
// answers, or null when the person cancels. One small form in a dialog, keyboard first.

import { h } from "./dom.js";

function control(f) {
  if (f.options) {
    return h("select", { name: f.name, required: f.required },
      f.options.map((o) => h("option", {}, o)));
  }
  if (f.type === "textarea") {
    return h("textarea", { name: f.name, rows: 3, required: f.required, maxlength: f.max });
  }
  return h("input", { name: f.name, type: f.type || "text", required: f.required,
                      min: f.min, max: f.max && f.type === "number" ? f.max : null,
                      maxlength: f.type !== "number" ? f.max : null, autocomplete: "off",
                      placeholder: f.hint });
}

export function ask(title, fields, submitText = "OK", note = "") {
  const dialog = document.getElementById("ask");
  const form = dialog.querySelector("form");
  form.querySelector("h2").textContent = title;
  const said = form.querySelector("[data-note]");
  said.textContent = note;
  said.hidden = !note;
  const labels = fields.map((f) => {
    const input = control(f);
    if (f.value !== undefined && f.value !== null) input.value = f.value;
    return h("label", {}, h("span", {}, f.label, f.required ? h("span", { class: "req" }, " *") : null),
             input);
  });
  form.querySelector("[data-fields]").replaceChildren(...labels);
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
