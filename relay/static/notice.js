// notice.js: what happened after a button, or what went wrong. A notice names its
// cause; when the cause is gone (the list loads again, the stream is back) it clears.

import { h } from "./dom.js";

let timer = null;
let current = null;       // the cause of the notice shown, or null

export function notify(text, { error = false, cause = null } = {}) {
  const notice = document.getElementById("notice");
  notice.replaceChildren(h("span", {}, text),
    h("button", { type: "button", class: "quiet small", "aria-label": "Dismiss" }, "×"));
  notice.lastChild.onclick = () => hide();
  notice.className = "notice" + (error ? " is-error" : "");
  notice.dataset.cause = cause || "";
  notice.hidden = false;
  current = cause;
  clearTimeout(timer);
  // An error with a cause stays until that cause is gone; others leave on their own.
  if (!error || !cause) timer = setTimeout(hide, error ? 20000 : 6000);
}

export function clearNotice(cause) {
  if (current && current === cause) hide();
}

function hide() {
  const notice = document.getElementById("notice");
  notice.hidden = true;
  current = null;
}

// Run a button's call: its answer as a notice, its failure in words.
export async function perform(promise, success) {
  try {
    const answer = await promise;
    if (success) notify(typeof success === "function" ? success(answer) : success);
    return answer;
  } catch (error) {
    notify(error.message, { error: true });
    return null;
  }
}
