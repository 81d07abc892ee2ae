// message-row.js: one message as a row: who, to whom, its body (line breaks kept, a long
// one clamped in the list and whole in the thread), its claim, reads and receipts.

import { badge, button, h, richBody, when } from "./dom.js";
import { me } from "./identity.js";
import { asksAck, owes, receiptLine, receiptSig } from "./receipts.js";

export function messageSig(m) {
  return [m.id, m.claimedBy, m.claimExpiresAt, (m.readBy || []).join(), m.deliveryStatus,
          m.resolvedToAgent, m.snippet, receiptSig(m), me()].join("|");
}

// A search snippet marks the matched words with [ ]: shown as <mark>, as text.
function snippet(text) {
  return h("p", { class: "snippet small" }, String(text).split(/(\[[^\]]*\])/).map((part) =>
    /^\[[^\]]*\]$/.test(part) ? h("mark", {}, part.slice(1, -1)) : part));
}

export function messageRow(m, { full = false } = {}) {
  const now = Date.now();
  const mine = me();
  const held = m.claimedBy && (!m.claimExpiresAt || m.claimExpiresAt > now);
  const claim = m.claimable
    ? (held ? h("span", { class: "claim is-held" }, `claimed by ${m.claimedBy}`,
                m.claimExpiresAt ? [" until ", when(m.claimExpiresAt)] : null)
            : h("span", { class: "claim" }, "claimable, unclaimed"))
    : null;
  const delivery = m.deliveryStatus !== "delivered" ? badge(m.deliveryStatus)
    : m.resolvedToAgent && m.resolvedToAgent !== m.to
      ? h("span", { class: "muted name" }, `→ ${m.resolvedToAgent}`) : null;
  const readBy = m.readBy || [];
  return h("li", { class: `row message kind-${m.kind.replace(".", "-")}${full ? " is-full" : ""}` },
    h("div", { class: "line" },
      badge(m.kind, "kind"),
      h("strong", { class: "name", title: m.from }, m.from),
      h("span", { class: "arrow", "aria-label": "to" }, "→"),
      h("strong", { class: "name", title: m.to }, m.to), m.channel ? h("span", { class: "chip" }, m.channel) : null,
      delivery,
      h("span", { class: "muted push nowrap" }, `#${m.id}`, m.replyTo ? ` ↩ #${m.replyTo}` : "", " ",
        when(m.createdAt))),
    m.subject ? h("div", { class: full ? "subject" : "subject clamp2", title: full ? null : m.subject },
                  m.subject) : null,
    m.snippet ? snippet(m.snippet) : null,
    h("div", { class: full ? "body" : "body clamp" }, richBody(m.body)),
    receiptLine(m),
    h("div", { class: "line small" }, claim,
      readBy.length ? h("span", { class: "muted name" }, `read by ${readBy.join(", ")}`) : null,
      h("span", { class: "buttons push" },
        full ? null : button("thread", "Open", `Open message #${m.id} and its thread`),
        button("reply", "Reply", `Reply to message #${m.id}`),
        m.claimable && !held ? button("claim", "Claim", `Claim message #${m.id}`) : null,
        held && mine && m.claimedBy === mine ? button("release", "Release", `Release message #${m.id}`) : null,
        asksAck(m) && mine && owes(m, mine) ? button("ack", "Ack", `Acknowledge message #${m.id}`) : null,
        mine && readBy.includes(mine) ? null : button("read", "Mark read", `Mark message #${m.id} read`))));
}
