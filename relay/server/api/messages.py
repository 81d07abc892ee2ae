"""Messages: send, poll (and long poll), claim, release, read, delete;
acknowledgements and receipts, and search (README "Acknowledgements and receipts",
"Searching messages")."""
import time

from flask import Blueprint, g, request

from ..broadcaster import CLOSED, RESET, Filter
from ..contract import route
from ..domain import acks, messages as domain
from ..errors import ApiError
from ..schemas.agents import STALE, AgentAct
from ..schemas.common import Ok
from ..schemas.messages import (AckIn, Cursor, Inbox, Message, MessageIn, MessageStatus, NackIn,
                                OverdueFilter, OverdueReceipt, QueuedFor, ReadMany, ReadResult,
                                Receipt, SearchHit, SearchQuery)
from ..store import messages, receipts
from ..wire import CLIENT_SOCKET, client_address
from . import answer, commit, conn, now, relay, release_conn

bp = Blueprint("messages", __name__, url_prefix="/api/messages")

UNKNOWN = "unknown message"
# Message events after which a held long poll looks at the inbox again.
WAKING_EVENTS = ["message.new", "message.claim_released", "message.redelivered"]


@route(bp, "POST", "", "Send. 201, or 200 with the first message when the sender reused an "
       "idempotencyKey. Sending counts as presence for `from` when it is a registered agent "
       "(recorded at 5 s granularity); `from` need not be registered. ackRequired: each "
       "recipient (the agent addressed; for a group address, every agent it matches now, not "
       "the sender; for pool:/policy:, the agent it resolves to) owes an ack by a deadline: "
       "ackBy (ms since the epoch, later than now) or ackWithinSeconds (default 1800) after "
       "sending. Past it the reap cycle redelivers the message with a new window of the same "
       "length, up to maxDeliveries (default 3) deliveries in all; then the recipient is overdue "
       "and, with escalateTo, a kind system message goes there as a reply to the message (in "
       "its thread) with payload {messageId, agentId, deliveryCount}. The ack fields without "
       "ackRequired, or ackBy with ackWithinSeconds, are 422.", body=MessageIn,
       answers={201: Message, 200: Message,
                403: "an integration token whose integration is not `from`, or kind system "
                     "with an integration token",
                404: "unknown target agent, pool or policy, unknown replyTo or escalateTo",
                422: "ack options without ackRequired, ackBy not later than now, or both "
                     "ackBy and ackWithinSeconds"})
def post_message(body: MessageIn):
    fields = domain.checked_sender(g.get("integration"), body.fields())
    message, created = domain.send(relay(), conn, fields, now())
    return answer(message, 201 if created else 200)


@route(bp, "GET", "", "With for=<agentId>: that agent's inbox, ascending from since (poll; "
       "wait=0-60 holds it until a message arrives, then answers [] when the time is up). "
       "Presence from polls is recorded at 5 s granularity. A message redelivered to the agent "
       "because its ack is late comes first, with redelivered: true, even below since. "
       "Answering a message sent with ackRequired moves the agent's receipt (delivered); "
       "other messages write nothing. ackPending=1: only what the agent still owes an ack for. "
       "An empty answer may come from memory while nothing that can reach the agent (a "
       "redelivery included) has happened since an earlier empty one (not with several relays "
       "on PostgreSQL; README). Without for: recent messages, newest first (from, to, kind, "
       "channel, before, awaitingAck), each sent with ackRequired carrying its receipts.",
       query=Inbox,
       answers={200: [Message], 404: "unknown agent", 503: "no stream slot free for wait"})
def list_messages(query: Inbox):
    agent_id = query.for_
    if agent_id is None:
        return answer(domain.with_receipts(conn(), messages.recent(
            conn(), sender=query.from_, to=query.to, kind=query.kind, channel=query.channel,
            before=query.before, awaiting_ack=query.awaitingAck, limit=query.limit)))
    r = relay()         # looked up once: each relay() or now() goes through Flask's proxy
    agent = domain.poll_agent(r, conn, agent_id, r.clock())
    asking = []

    def poll():
        found, asking[:] = domain.poll(
            r, conn, agent, r.clock(), since=query.since or 0, unread=query.unread,
            kind=query.kind, channel=query.channel, ack_pending=query.ackPending,
            limit=query.limit)
        return found

    found = long_poll(agent, poll, query.wait) if query.wait else poll()
    if asking:          # an answer from memory asks for no connection
        domain.carried(r, conn(), agent_id, asking, r.clock())
    return answer(found)


def long_poll(agent: dict, poll, wait: int):
    """Hold the poll until a message for the agent arrives or `wait` seconds pass.

    It subscribes before the first look, so a message sent in between still
    wakes it; the broadcaster wakes it, nothing sleeps and re-queries.
    """
    r = relay()
    holder = client_address(request.environ)
    refused = r.slots.acquire("poll", holder)
    if refused:
        raise ApiError(503, "no stream slot free for a long poll"
                       if refused.startswith("no stream slot") else refused, {"Retry-After": "1"})
    subscription = r.broadcaster.subscribe(Filter(WAKING_EVENTS, agent))
    # A client that hangs up ends the hold at once (watch.py), freeing its slot.
    client = request.environ.get(CLIENT_SOCKET)
    hangup = r.hangups.add(client, subscription.close) if client else None
    try:
        deadline = time.monotonic() + wait
        found = poll()
        while not found:
            release_conn()      # a held poll holds no pooled connection while it waits
            remaining = deadline - time.monotonic()
            taken = subscription.take(remaining) if remaining > 0 else []
            if taken == [] or taken == CLOSED:
                break
            found = poll()
            if taken == RESET:        # the subscription is gone: this look is the last
                break
        return found
    finally:
        r.hangups.remove(hangup)
        r.broadcaster.unsubscribe(subscription)
        r.slots.release("poll", holder)


@route(bp, "GET", "/cursor", "The highest message id (0 when there is none).",
       answers={200: Cursor})
def cursor():
    return answer({"latestId": messages.latest_id(conn())})


@route(bp, "GET", "/queued", "Messages queued for a pool: or policy: address, oldest first.",
       query=QueuedFor, answers={200: [Message]})
def queued(query: QueuedFor):
    return answer(messages.queued_for(conn(), query.for_, query.limit))


@route(bp, "GET", "/overdue", "Every overdue receipt (a recipient that did not ack after "
       "maxDeliveries deliveries) with its message, newest message first; from and to filter "
       "the message, agentId the recipient.", query=OverdueFilter,
       answers={200: [OverdueReceipt]})
def overdue(query: OverdueFilter):
    return answer(domain.overdue(conn(), sender=query.from_, to=query.to,
                                 agent_id=query.agentId, limit=query.limit))


@route(bp, "GET", "/search", "Full-text search of subject and body, best match first (ties: "
       "newest first). q is web-search syntax read by the relay, never an engine query: words "
       "(all must match), \"a phrase\", `or` between two terms, -word or -\"a phrase\" to leave "
       "out, word* for a prefix; case and diacritics are ignored; any text is a valid query "
       "(one with nothing searchable, e.g. only punctuation or only -words, finds nothing) and "
       "only the first 32 terms count. With for: only what that agent can read (its inbox, "
       "claims by others hidden) and what it sent. Each hit is the message with rank and "
       "snippet. Past 10 000 matches (after filters) only the newest 10 000 are ranked; before= "
       "reaches older ones.", query=SearchQuery, answers={200: [SearchHit], 404: "unknown agent"})
def search(query: SearchQuery):
    return answer(domain.search(relay(), conn(), query, now()))


@route(bp, "GET", "/<id:message_id>", "One message.", answers={200: Message, 404: UNKNOWN})
def get_message(message_id):
    return answer(domain.get(conn(), message_id))


@route(bp, "GET", "/<id:message_id>/thread", "The whole thread the message belongs to, oldest "
       "first.", answers={200: [Message], 404: UNKNOWN})
def get_thread(message_id):
    c = conn()
    return answer(messages.thread(c, domain.get(c, message_id)))


@route(bp, "GET", "/<id:message_id>/status", "Delivery and claim status.",
       answers={200: MessageStatus, 404: UNKNOWN})
def get_status(message_id):
    c = conn()
    m = domain.get(c, message_id)
    return answer({**{k: m[k] for k in ("id", "deliveryStatus", "resolvedToAgent", "expiresAt",
                                        "claimedBy", "claimExpiresAt", "readBy")},
                   "receipts": receipts.of_message(c, message_id)})


@route(bp, "GET", "/<id:message_id>/receipts", "Each recipient's receipt, by agent id: an agent "
       "the address reached when it was sent (or resolved to), and any later reader of a group "
       "message. Empty for a message sent without ackRequired.",
       answers={200: [Receipt], 404: UNKNOWN})
def get_receipts(message_id):
    c = conn()
    domain.get(c, message_id)
    return answer(receipts.of_message(c, message_id))


NOT_OWED = "not a recipient, or the message does not ask for an ack (400)"


@route(bp, "POST", "/<id:message_id>/ack", "Acknowledge for agentId (idempotent: the first "
       "ackedAt stays, and only the first emits message.acked). A claimable message acked by "
       "its claimer is done for every recipient. Answers the agent's receipt.", body=AckIn,
       answers={200: Receipt, 400: "the message does not ask for an acknowledgement",
                403: "agentId is not a recipient", 404: "unknown message or agent", 409: STALE})
def ack(message_id, body: AckIn):
    t = now()
    return answer(commit(lambda c: acks.ack(c, message_id, body.agentId, body, body.note, t)))


@route(bp, "POST", "/<id:message_id>/nack", "Give it back for now: the reap cycle redelivers "
       "it to agentId once retryInSeconds (default 0: its next pass) have passed, counting a "
       "delivery (past maxDeliveries: overdue). Answers the receipt.", body=NackIn,
       answers={200: Receipt, 400: "the message does not ask for an acknowledgement",
                403: "agentId is not a recipient", 404: "unknown message or agent",
                409: "nothing owed (already acked or overdue, or a later reader), or " + STALE})
def nack(message_id, body: NackIn):
    t = now()
    return answer(commit(lambda c: acks.nack(c, message_id, body.agentId, body, body.reason,
                                             body.retryInSeconds, t)))


@route(bp, "POST", "/<id:message_id>/progress", "Still working: agentId's deadline becomes now "
       "plus the message's original window (ackBy - createdAt). Answers the receipt.",
       body=AgentAct, answers={200: Receipt, 400: "the message does not ask for an "
                               "acknowledgement", 403: "agentId is not a recipient",
                               404: "unknown message or agent",
                               409: "nothing owed (already acked or overdue), or " + STALE})
def progress(message_id, body: AgentAct):
    t = now()
    return answer(commit(lambda c: acks.progress(c, message_id, body.agentId, body, t)))


@route(bp, "POST", "/<id:message_id>/claim", "Claim exactly once (one conditional UPDATE). "
       "The claiming agent must be registered; the holder re-claiming extends. A queued or "
       "expired message cannot be claimed (409).", body=AgentAct,
       answers={200: Message, 404: "unknown message or agent",
                409: "already claimed by another agent, not deliverable, or " + STALE})
def claim(message_id, body: AgentAct):
    t = now()
    return answer(commit(lambda c: domain.claim(c, message_id, body.agentId, body,
                                                body.ttlSeconds, t)))


@route(bp, "POST", "/<id:message_id>/release", "The holder gives a claim back early.",
       body=AgentAct, answers={200: Message, 404: "unknown message or agent",
                               409: "not claimed by this agent, or " + STALE})
def release(message_id, body: AgentAct):
    return answer(commit(lambda c: domain.release(c, message_id, body.agentId, body)))


def mark_read(body, ids: list[int]) -> list[dict]:
    t = now()
    return commit(lambda c: domain.mark_read(c, ids, body.agentId, body, t))


@route(bp, "POST", "/<id:message_id>/read", "Mark read for agentId (idempotent).",
       body=AgentAct, answers={200: Message, 404: "unknown message or agent", 409: STALE})
def read_one(message_id, body: AgentAct):
    mark_read(body, [message_id])
    return answer(domain.get(conn(), message_id))


@route(bp, "POST", "/read", "Mark many read for agentId; answers the ids that changed.",
       body=ReadMany, answers={200: ReadResult, 404: "unknown message or agent", 409: STALE})
def read_many(body: ReadMany):
    changed = mark_read(body, sorted(set(body.ids)))
    return answer({"ok": True, "read": [m["id"] for m in changed]})


@route(bp, "DELETE", "/<id:message_id>", "Delete a message.", answers={200: Ok, 404: UNKNOWN})
def delete_message(message_id):
    return answer(commit(lambda c: domain.delete(c, message_id)))
