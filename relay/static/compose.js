// compose.js: writing a message as the dashboard's own agent. Compact (one line) until
// used. A reply goes where its kind answers: a channel event into its channel, a task
// message to its task (a note), anything else to its sender; cancelling resets the form.

import { api } from "./api.js";
import { showError } from "./dom.js";
import { changeMe, ensureMe, me, onIdentity } from "./identity.js";
import { messagesView, upsert } from "./messages.js";
import { notify } from "./notice.js";
import { SECTIONS, touch } from "./sections.js";
import { onSpec, serves } from "./spec.js";

const form = () => document.getElementById("compose");
let target = null;               // what the form answers: {message, mode: "message"|"task"}

function expand(open) {
  form().classList.toggle("is-open", open);
}

function idle() {
  const f = form().elements;
  return !target && !f.body.value && !f.to.value && !f.subject.value;
}

export function setupCompose() {
  const el = form();
  el.addEventListener("submit", (event) => { event.preventDefault(); send(el); });
  el.addEventListener("focusin", () => expand(true));
  el.addEventListener("input", () => showError(el.querySelector("[data-error]"), null));
  // Leaving an untouched form folds it back to one line.
  el.addEventListener("focusout", () => setTimeout(() => {
    if (!el.contains(document.activeElement) && idle()) expand(false);
  }, 0));
  document.getElementById("reply-cancel").onclick = () => { replyTo(null); expand(false); };
  document.getElementById("me-change").onclick = () => changeMe();
  onIdentity((name) => {
    document.getElementById("me-name").textContent = name || "not chosen yet";
    document.body.dataset.me = name || "";
    touch("messages");
    touch("tasks");
  });
  onSpec(() => { el.querySelector("[data-ack]").hidden = !serves("POST", "/api/messages/{}/ack"); });
}

// The address a reply goes to: the sender when it is an agent (not me), else the
// audience the message had (a system broadcast, a CI sender that is no agent).
function replyAddress(m) {
  if (m.kind === "channel.event") return m.to;
  if (m.from === me()) return m.to;
  return SECTIONS.agents.items.has(m.from) ? m.from : m.to;
}

export function replyTo(message) {
  const el = form();
  const f = el.elements;
  const marker = document.getElementById("reply-to");
  const taskId = message?.kind === "task" ? message.payload?.taskId : undefined;
  const wasReply = !!target;
  target = message ? { message, mode: taskId !== undefined ? "task" : "message", taskId } : null;
  marker.hidden = !message;
  el.dataset.mode = target?.mode || "message";
  f.to.required = target?.mode !== "task";
  // A reply never keeps what an earlier one filled in.
  f.subject.value = "";
  if (!message) {
    if (wasReply) f.to.value = "";
    return;
  }
  marker.querySelector("span").textContent = target.mode === "task"
    ? `note on task #${taskId}` : `reply to #${message.id}` +
      (message.channel ? ` in ${message.channel}` : "");
  if (target.mode === "message") {
    f.to.value = replyAddress(message);
    if (message.subject) {
      f.subject.value = message.subject.startsWith("Re: ") ? message.subject : `Re: ${message.subject}`;
    }
  } else {
    f.to.value = "";
  }
  const thread = document.getElementById("thread");
  if (thread.open) thread.close();
  expand(true);
  f.body.focus();
}

async function post(who, f) {
  if (target?.mode === "task") {
    await api("POST", `/api/tasks/${target.taskId}/events`, { note: f.body.value, agentId: who });
    return `note added to task #${target.taskId}`;
  }
  const message = { from: who, to: f.to.value.trim(), body: f.body.value,
                    claimable: f.claimable.checked };
  if (f.subject.value.trim()) message.subject = f.subject.value.trim();
  if (target) message.replyTo = target.message.id;
  if (target?.message.channel) message.channel = target.message.channel;
  if (f.ackRequired.checked && !f.ackRequired.closest("[hidden]")) message.ackRequired = true;
  const sent = await api("POST", "/api/messages", message);
  upsert(sent);
  return `message #${sent.id} sent to ${sent.to}` +
    (sent.deliveryStatus === "queued" ? " (queued until it can be delivered)" : "");
}

async function send(el) {
  const error = el.querySelector("[data-error]");
  const f = el.elements;
  const button = el.querySelector("[type=submit]");
  button.disabled = true;
  try {
    const who = await ensureMe();
    if (!who) return;
    const said = await post(who, f);
    showError(error, null);
    f.body.value = "";
    f.claimable.checked = false;
    f.ackRequired.checked = false;
    replyTo(null);
    expand(false);
    notify(said);
  } catch (failure) {
    showError(error, failure);
  } finally {
    button.disabled = false;
  }
}

messagesView.act.reply = (id) => {
  const message = messagesView.items.get(id) || SECTIONS.thread.items.get(id);
  if (message) replyTo(message);
};
