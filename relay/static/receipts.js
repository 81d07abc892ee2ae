// receipts.js: for a message that asks for an acknowledgement, where each recipient
// stands (GET /api/messages/:id/receipts): who acked, who is overdue, who still owes it.

import { api } from "./api.js";
import { h } from "./dom.js";

const cache = new Map();         // message id -> receipts, or null while being read
let changed = () => {};

export const onReceipts = (listener) => { changed = listener; };
export const asksAck = (m) => !!m.ackRequired;
export const receiptsOf = (id) => cache.get(String(id)) || null;

// Read (again) the receipts of these messages; the rows redraw when they arrive.
export function readReceipts(ids) {
  for (const id of ids) {
    const key = String(id);
    cache.set(key, cache.get(key) || null);
    api("GET", `/api/messages/${key}/receipts`)
      .then((list) => { cache.set(key, list || []); changed(key); })
      .catch(() => { cache.delete(key); });
  }
}

// Asked once per message shown; events about acks ask again (messages.js).
export function wantReceipts(m) {
  if (asksAck(m) && !cache.has(String(m.id))) readReceipts([m.id]);
}

export function receiptSig(m) {
  return asksAck(m) ? JSON.stringify(cache.get(String(m.id)) || null) : "";
}

const ORDER = ["overdue", "queued", "delivered", "read", "acked"];
const SAID = { acked: "acked", overdue: "overdue", read: "read, not acked",
               delivered: "delivered, not acked", queued: "queued" };

export function receiptLine(m) {
  if (!asksAck(m)) return null;
  const receipts = receiptsOf(m.id);
  if (!receipts) return h("div", { class: "receipts small muted" }, "ack asked: reading receipts…");
  // Owed receipts only: a later reader of a group message owes nothing.
  const by = {};
  for (const r of receipts.filter((x) => x.owed)) (by[r.state] = by[r.state] || []).push(r);
  const parts = ORDER.filter((state) => by[state]).map((state) =>
    h("span", { class: `receipt is-${state}`, "data-state": state },
      `${SAID[state]}: `, by[state].map((r) => r.agentId + (r.deliveryCount > 1
        ? ` (×${r.deliveryCount})` : "")).join(", ")));
  return h("div", { class: "receipts small", "aria-label": `Receipts of message #${m.id}` },
    h("span", { class: "muted" }, "ack asked"), parts.length ? parts : h("span", {}, "no recipients"));
}

// Whether this agent still owes the message its ack (the Ack button).
export function owes(m, agentId) {
  const mine = (receiptsOf(m.id) || []).find((r) => r.agentId === agentId);
  return !!mine && mine.owed && mine.state !== "acked";
}
