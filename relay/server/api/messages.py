"""Messages: send, poll (and long poll), claim, release, read, delete."""
import time

from flask import Blueprint, g, request


from ..broadcaster import CLOSED, RESET, Filter
from ..contract import route
from ..domain import messages as domain
from ..errors import ApiError
from ..schemas.agents import STALE, AgentAct
from ..schemas.common import Ok
from ..schemas.messages import (Cursor, Inbox, Message, MessageIn, MessageStatus, QueuedFor,
                                ReadMany, ReadResult)
from ..store import messages
from ..wire import CLIENT_SOCKET
from . import answer, commit, conn, now, relay, release_conn

bp = Blueprint("messages", __name__, url_prefix="/api/messages")

UNKNOWN = "unknown message"
# Message events after which a held long poll looks at the inbox again.
WAKING_EVENTS = ["message.new", "message.claim_released"]


@route(bp, "POST", "", "Send. 201, or 200 with the first message when the sender reused an "
       "idempotencyKey. Sending counts as presence for `from` when it is a registered agent "
       "(recorded at 5 s granularity); `from` need not be registered.", body=MessageIn,
       answers={201: Message, 200: Message,
                403: "an integration token whose integration is not `from`, or kind system "
                     "with an integration token",
                404: "unknown target agent, pool or policy, or unknown replyTo"})
def post_message(body: MessageIn):
    fields = domain.checked_sender(g.get("integration"), body.fields())
    message, created = domain.send(relay(), conn, fields, now())
    return answer(message, 201 if created else 200)


@route(bp, "GET", "", "With for=<agentId>: that agent's inbox, ascending from since (poll; "
       "wait=0-60 holds it until a message arrives, then answers [] when the time is up). "
       "Presence from polls is recorded at 5 s granularity. An empty answer may come from memory "
       "while nothing that can reach the agent has happened since an earlier empty one (not with "
       "several relays on PostgreSQL; README). Without for: recent messages, "
       "newest first (from, to, kind, channel, before).", query=Inbox,
       answers={200: [Message], 404: "unknown agent", 503: "no stream slot free for wait"})
def list_messages(query: Inbox):
    agent_id = query.for_
    if agent_id is None:
        return answer(messages.recent(
            conn(), sender=query.from_, to=query.to, kind=query.kind, channel=query.channel,
            before=query.before, limit=query.limit))
    agent = domain.poll_agent(relay(), conn, agent_id, now())

    def poll():
        return domain.poll(relay(), conn, agent, now(), since=query.since or 0,
                           unread=query.unread, kind=query.kind, channel=query.channel,
                           limit=query.limit)

    return answer(long_poll(agent, poll, query.wait) if query.wait else poll())


def long_poll(agent: dict, poll, wait: int):
    """Hold the poll until a message for the agent arrives or `wait` seconds pass.

    It subscribes before the first look, so a message sent in between still
    wakes it; the broadcaster wakes it, nothing sleeps and re-queries.
    """
    r = relay()
    holder = request.remote_addr or ""
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
    m = domain.get(conn(), message_id)
    return answer({k: m[k] for k in ("id", "deliveryStatus", "resolvedToAgent", "expiresAt",
                                     "claimedBy", "claimExpiresAt", "readBy")})


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
