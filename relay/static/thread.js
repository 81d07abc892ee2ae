// thread.js: a message read in full, in its thread (oldest first), following new replies.

import { api } from "./api.js";
import { renderList, showError } from "./dom.js";
import { messageRow, messageSig } from "./message-row.js";
import { SECTIONS_THREAD, messagesView } from "./messages.js";
import { define, fill, touch } from "./sections.js";

export const threadView = define("thread", {
  threadId: null,
  opened: null,
  async load() {},
  setup(section) {
    section.root.querySelector("[data-close]").onclick = () => section.root.close();
  },
  draw(section) {
    section.list.dataset.empty = "Loading…";
    renderList(section.list, [...section.items.values()].sort((a, b) => a.id - b.id),
               (m) => m.id, (m) => messageRow(m, { full: true }), messageSig);
    const opened = section.list.querySelector(`[data-key="${section.opened}"]`);
    section.list.querySelectorAll(".is-opened").forEach((n) => n.classList.remove("is-opened"));
    opened?.classList.add("is-opened");
  },
  async show(id) {
    this.items = new Map();
    this.threadId = null;
    this.opened = id;
    showError(this.error, null);
    this.root.querySelector("h2").textContent = `Message #${id} and its thread`;
    if (!this.root.open) this.root.showModal();
    try {
      const thread = await api("GET", `/api/messages/${id}/thread`);
      this.threadId = thread.length ? thread[0].threadId : id;
      fill(this, thread, (m) => m.id);
    } catch (error) {
      showError(this.error, error);
    }
    touch("thread");
    requestAnimationFrame(() => requestAnimationFrame(() =>
      this.list.querySelector(`[data-key="${id}"]`)?.scrollIntoView({ block: "nearest" })));
  },
  // Live: messages of the open thread that arrive are added to it.
  refresh() {
    if (!this.root.open) return;
    for (const m of messagesView.items.values()) {
      if (m.threadId === this.threadId) this.items.set(String(m.id), m);
    }
    touch("thread");
  },
  act: messagesView.act,
});

SECTIONS_THREAD.show = (id) => threadView.show(id);
SECTIONS_THREAD.refresh = () => threadView.refresh();
