// dom.js: building rows from data (text is always text, never HTML) and keeping lists current.

// h("li", {class: "x", "data-key": 1}, "text", child)
export function h(tag, attrs, ...children) {
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

export function button(action, text, label, extra) {
  return h("button", { type: "button", "data-action": action, "aria-label": label || null,
                       class: "small", ...(extra || {}) }, text);
}

// Keeps `container`'s children equal to `items`, in order. A child is rebuilt only
// when its signature changed, so unchanged rows keep their place and their focus.
export function renderList(container, items, keyOf, build, sigOf = (item) => JSON.stringify(item)) {
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

export function showError(where, error) {
  if (!where) return;
  where.textContent = error ? (error.message || String(error)) : "";
  where.hidden = !error;
}

// --- formats ---------------------------------------------------------------------

export function clock(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour12: false })
    : date.toLocaleString([], { hour12: false, month: "short", day: "numeric",
                                hour: "2-digit", minute: "2-digit" });
}

export function when(ms) {
  return h("time", { datetime: ms ? new Date(ms).toISOString() : null,
                     title: ms ? new Date(ms).toLocaleString() : null }, clock(ms));
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = Math.floor(seconds / 86400), hr = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// "1 message", "2 messages"
export function plural(n, word, many = `${word}s`) {
  return `${n} ${n === 1 ? word : many}`;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""} is-${String(text).replace(/\W+/g, "-")}` }, text);
}

export function chips(values, prefix) {
  return (values || []).map((v) => {
    const text = prefix ? `${prefix}${v}` : v;
    return h("span", { class: "chip", title: text.length > 30 ? text : null }, text);
  });
}

export function preview(text, length = 240) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
}

// A body as written: its line breaks kept, ``` fenced blocks as code. Text nodes only.
export function richBody(text) {
  const parts = String(text || "").split(/^```[^\n]*\n?/m);
  return parts.map((part, i) => i % 2
    ? h("pre", { class: "code" }, h("code", {}, part.replace(/\n$/, "")))
    : part ? h("span", { class: "prose" }, part) : null);
}
