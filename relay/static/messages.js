// messages.js: the conversation: newest first, older pages on scroll (before=<oldest id>),
// filters (from, to, kind on the relay; unread and claimable on what is loaded), the
// overdue view and search where this relay serves them, and the buttons of each row.

import { api, query } from "./api.js";
import { renderList } from "./dom.js";
import { ensureMe, me } from "./identity.js";
import { messageRow, messageSig } from "./message-row.js";
import { perform } from "./notice.js";
import { onReceipts, readReceipts, wantReceipts } from "./receipts.js";
import { SECTIONS, define, fill, load, touch } from "./sections.js";
import { onSpec, serves } from "./spec.js";

export const PAGE = 100;         // messages per page
const KEPT = 200;                // live arrivals beyond this (and what was paged) drop the oldest
const filterForm = () => document.getElementById("message-filter");

function filters() {
  const f = filterForm().elements;
  return { q: f.q.value.trim(), from: f.from.value.trim(), to: f.to.value.trim(),
           kind: f.kind.value, unread: f.unread.checked, claimable: f.claimable.checked,
           overdue: f.overdue.checked };
}

// The relay's answer for the view asked: search hits, overdue receipts, or a page.
async function fetchPage(before) {
  const f = filters();
  const common = { from: f.from, to: f.to, kind: f.kind };
  if (f.q) return api("GET", query("/api/messages/search", { q: f.q, ...common, limit: PAGE }));
  if (f.overdue) {
    const rows = await api("GET", query("/api/messages/overdue", { from: f.from, to: f.to,
                                                                     limit: 500 }));
    // One row per overdue receipt: each message once.
    return [...new Map(rows.map((r) => [r.message?.id ?? r.id, r.message || r])).values()];
  }
  return api("GET", query("/api/messages", { ...common, before, limit: PAGE }));
}

export const messagesView = define("messages", {
  kept: KEPT,
  more: false,
  async load(section) {
    const page = await fetchPage();
    fill(section, page, (m) => m.id);
    section.kept = Math.max(KEPT, page.length);
    section.more = page.length === PAGE && !filters().q && !filters().overdue;
  },
  async older(section) {
    if (!section.more || section.paging) return;
    section.paging = true;
    try {
      const oldest = Math.min(...[...section.items.keys()].map(Number));
      const page = await fetchPage(oldest);
      for (const m of page) section.items.set(String(m.id), m);
      section.kept = section.items.size;
      section.more = page.length === PAGE;
    } finally {
      section.paging = false;
    }
    touch("messages");
  },
  setup(section) {
    const form = filterForm();
    let timer = null;
    form.addEventListener("submit", (e) => { e.preventDefault(); load("messages"); });
    form.addEventListener("input", (e) => {
      // Client-side filters draw at once; the relay's are asked after typing stops.
      if (["unread", "claimable"].includes(e.target.name)) return touch("messages");
      clearTimeout(timer);
      timer = setTimeout(() => load("messages"), 250);
    });
    const toggle = document.getElementById("filters-toggle");
    toggle.onclick = () => {
      const open = form.classList.toggle("is-open");
      toggle.setAttribute("aria-expanded", String(open));
    };
    const more = section.root.querySelector("[data-more]");
    more.onclick = () => section.older(section);
    new IntersectionObserver((seen) => {
      if (seen.some((s) => s.isIntersecting)) section.older(section);
    }, { root: section.root.querySelector("[data-scroll]") }).observe(more);
    onReceipts(() => touch("messages"));
    onSpec(() => {
      form.querySelector("[data-search]").hidden = !serves("GET", "/api/messages/search");
      form.querySelector("[data-overdue]").hidden = !serves("GET", "/api/messages/overdue");
    });
  },
  // "100 of 5012": what is shown of what the relay holds (health's count) when nothing
  // narrows the list; of what is loaded when a filter does.
  count(section) {
    const f = filters();
    const total = SECTIONS.health.data?.counts?.messages;
    const narrowed = f.q || f.overdue || f.from || f.to || f.kind;
    if (!narrowed && section.shown === section.items.size && total > section.items.size) {
      return `${section.shown} of ${total}`;
    }
    return section.shown === section.items.size ? section.items.size
      : `${section.shown} of ${section.items.size}`;
  },
  draw(section) {
    const f = filters();
    const ranked = !!f.q;
    let shown = [...section.items.values()];
    if (!ranked) shown.sort((a, b) => b.id - a.id);
    if (!ranked && !f.overdue) {
      for (const old of shown.slice(section.kept)) section.items.delete(String(old.id));
      shown = shown.slice(0, section.kept);
    }
    shown = shown.filter((m) => visible(m, f));
    section.shown = shown.length;
    for (const m of shown) wantReceipts(m);
    section.list.dataset.empty = section.items.size ? "No message matches the filters."
      : f.q ? "Nothing found." : "No messages yet.";
    renderList(section.list, shown, (m) => m.id, (m) => messageRow(m), messageSig);
    const more = section.root.querySelector("[data-more]");
    more.hidden = !section.more;
    const on = f.from || f.to || f.kind || f.unread || f.claimable || f.overdue;
    document.getElementById("filters-toggle").textContent = on ? "Filters (on)" : "Filters";
    SECTIONS_THREAD.refresh?.();
  },
  on: {
    "message.new": upsert,
    "message.queued": upsert,
    "message.claimed": upsert,
    "message.claim_released": upsert,
    "message.read": (m) => { upsert(m); if (m.ackRequired) readReceipts([m.id]); },
    "message.expired": upsert,
    "message.available": (data) => {
      for (const id of data.messageIds || []) refresh(id);
    },
    "message.deleted": (data) => {
      messagesView.items.delete(String(data.messageId));
      touch("messages");
    },
    "message.acked": (data) => receiptsChanged(data),
    "message.redelivered": (data) => receiptsChanged(data),
    "message.ack_overdue": (data) => {
      receiptsChanged(data);
      if (filters().overdue) load("messages");
    },
  },
  act: {
    thread: (id) => SECTIONS_THREAD.show(Number(id)),
    claim: (id) => asMe((who) => api("POST", `/api/messages/${id}/claim`, { agentId: who }),
                        (who) => `message #${id} claimed by ${who}`),
    release: (id) => asMe((who) => api("POST", `/api/messages/${id}/release`, { agentId: who }),
                          () => `claim on #${id} released`),
    read: (id) => asMe((who) => api("POST", `/api/messages/${id}/read`, { agentId: who }),
                       (who) => `message #${id} marked read by ${who}`),
    ack: (id) => asMe((who) => api("POST", `/api/messages/${id}/ack`, { agentId: who }),
                      (who) => `message #${id} acked by ${who}`).then(() => readReceipts([id])),
  },
});

// The thread dialog registers itself here (thread.js) to follow what arrives.
export const SECTIONS_THREAD = {};

// Acting as the dashboard's own agent: asks for a name the first time.
export async function asMe(call, success) {
  const who = await ensureMe().catch((error) => { perform(Promise.reject(error)); return null; });
  if (!who) return null;
  return perform(call(who), () => success(who));
}

function visible(m, f) {
  const who = me();
  return (!f.unread || !(m.readBy || []).includes(who)) && (!f.claimable || m.claimable);
}

// A message from an event joins the list when it fits the relay-side filters.
function fits(m) {
  const f = filters();
  if (f.q || f.overdue) return messagesView.items.has(String(m.id));
  return (!f.from || m.from === f.from) && (!f.to || m.to === f.to) && (!f.kind || m.kind === f.kind);
}

export function upsert(message) {
  if (message.id === undefined || !fits(message)) return;
  const old = messagesView.items.get(String(message.id));
  // Once the person has paged back, what arrives adds to the list instead of pushing
  // out the oldest rows they may be reading.
  if (!old && messagesView.kept > KEPT) messagesView.kept += 1;
  messagesView.items.set(String(message.id), old?.snippet ? { ...message, snippet: old.snippet,
                                                               rank: old.rank } : message);
  touch("messages");
}

async function refresh(id) {
  try { upsert(await api("GET", `/api/messages/${id}`)); } catch { /* deleted meanwhile */ }
}

function receiptsChanged(data) {
  const id = data.messageId ?? data.id ?? data.message?.id;
  if (id !== undefined) readReceipts([id]);
}
