"""Messages (API.md §2): send, poll (and long poll), claim, release, read, delete."""
import time

from flask import Blueprint, g

from ..broadcaster import CLOSED, RESET, Filter
from ..contract import route
from ..errors import ApiError, not_found
from ..events import message_deleted, message_event
from ..schemas.agents import AgentAct
from ..schemas.common import Ok
from ..schemas.messages import (Cursor, Inbox, Message, MessageIn, MessageStatus, QueuedFor,
                                ReadMany, ReadResult)
from ..store import agents, messages, policies
from . import answer, commit, conn, now, relay
from .agents import STALE, acting_agent, back_online, known_agent

bp = Blueprint("messages", __name__, url_prefix="/api/messages")

UNKNOWN = "unknown message"
# Message events after which a held long poll looks at the inbox again.
WAKING_EVENTS = ["message.new", "message.claim_released"]


def send(body: MessageIn) -> tuple[dict, bool]:
    """Store and publish one message (shared with the WebSocket); (message, created)."""
    fields = body.fields()
    integration = g.get("integration")
    if integration is not None:
        # An integration speaks as itself, never as an agent or the relay.
        if fields["from"] != integration:
            raise ApiError(403, f"from must be {integration}: an integration token sends as "
                           "its integration")
        if fields.get("kind") == "system":
            raise ApiError(403, "kind system is the relay's own: an integration token may not "
                           "send it")
    t = now()
    cache = relay().agent_cache
    # Sends count as presence (at most every few seconds); `from` need not be an agent.
    touch = cache.presence_due(known_agent(fields["from"]), t)

    def change(c):
        message, created = messages.send(c, fields, t)
        if not created:
            return (message, False), []
        queued = message["deliveryStatus"] == "queued"
        return (message, True), [
            message_event("message.queued" if queued else "message.new", message, message["from"]),
            *(presence(c, fields["from"], t) if touch else [])]
    message, created = commit(change)
    if created and touch:
        cache.presence_written(fields["from"], t)
    return message, created


@route(bp, "POST", "", "Send. 201, or 200 with the first message when the sender reused an "
       "idempotencyKey. Sending counts as presence for `from` when it is a registered agent "
       "(recorded at 5 s granularity); `from` need not be registered.", body=MessageIn,
       answers={201: Message, 200: Message,
                403: "an integration token whose integration is not `from`, or kind system "
                     "with an integration token",
                404: "unknown target agent, pool or policy, or unknown replyTo"})
def post_message(body: MessageIn):
    message, created = send(body)
    return answer(message, 201 if created else 200)


def presence(c, agent_id: str, t: int) -> list:
    """A call as the agent counts as presence; one that brings it back online says so."""
    agent, came_back = agents.touch(c, agent_id, t)
    return back_online(c, agent, t) if came_back else []


def note_presence(agent: dict) -> None:
    t, cache = now(), relay().agent_cache
    if not cache.presence_due(agent, t):
        return

    def change(c):
        return None, presence(c, agent["id"], t)
    commit(change)
    cache.presence_written(agent["id"], t)


@route(bp, "GET", "", "With for=<agentId>: that agent's inbox, ascending from since (poll; "
       "wait=0-60 holds it until a message arrives, then answers [] when the time is up). "
       "Presence from polls is recorded at 5 s granularity. Without for: recent messages, "
       "newest first (from, to, kind, channel, before).", query=Inbox,
       answers={200: [Message], 404: "unknown agent", 503: "no stream slot free for wait"})
def list_messages(query: Inbox):
    agent_id = query.for_
    if agent_id is None:
        return answer(messages.recent(
            conn(), sender=query.from_, to=query.to, kind=query.kind, channel=query.channel,
            before=query.before, limit=query.limit))
    agent = known_agent(agent_id)
    if agent is None:
        raise not_found(f"agent {agent_id} not found")
    note_presence(agent)

    def poll():
        return messages.inbox(conn(), agent, now(), since=query.since or 0, unread=query.unread,
                              kind=query.kind, channel=query.channel, limit=query.limit)

    return answer(long_poll(agent, poll, query.wait) if query.wait else poll())


def long_poll(agent: dict, poll, wait: int):
    """Hold the poll until a message for the agent arrives or `wait` seconds pass.

    It subscribes before the first look, so a message sent in between still
    wakes it; the broadcaster wakes it, nothing sleeps and re-queries.
    """
    r = relay()
    from flask import request       # here: this module's imports are another change's ground
    from .streams import CLIENT_SOCKET, client_address
    holder = client_address()
    refused = r.slots.acquire("poll", holder)
    if refused:
        raise ApiError(503, "no stream slot free for a long poll"
                       if refused.startswith("no stream slot") else refused, {"Retry-After": "1"})
    subscription = r.broadcaster.subscribe(Filter(WAKING_EVENTS, agent))
    # A client that hangs up ends the hold at once (relay/watch.py), freeing its slot.
    client = request.environ.get(CLIENT_SOCKET)
    hangup = r.hangups.add(client, subscription.close) if client else None
    try:
        deadline = time.monotonic() + wait
        found = poll()
        while not found:
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
    return answer(messages.get_or_404(conn(), message_id))


@route(bp, "GET", "/<id:message_id>/thread", "The whole thread the message belongs to, oldest "
       "first.", answers={200: [Message], 404: UNKNOWN})
def get_thread(message_id):
    c = conn()
    return answer(messages.thread(c, messages.get_or_404(c, message_id)))


@route(bp, "GET", "/<id:message_id>/status", "Delivery and claim status.",
       answers={200: MessageStatus, 404: UNKNOWN})
def get_status(message_id):
    m = messages.get_or_404(conn(), message_id)
    return answer({k: m[k] for k in ("id", "deliveryStatus", "resolvedToAgent", "expiresAt",
                                     "claimedBy", "claimExpiresAt", "readBy")})


@route(bp, "POST", "/<id:message_id>/claim", "Claim exactly once (one conditional UPDATE). "
       "The claiming agent must be registered; the holder re-claiming extends. A queued or "
       "expired message cannot be claimed (409).", body=AgentAct,
       answers={200: Message, 404: "unknown message or agent",
                409: "already claimed by another agent, not deliverable, or " + STALE})
def claim(message_id, body: AgentAct):
    agent_id, ttl = body.agentId, body.ttlSeconds
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        message = messages.claim(c, message_id, agent_id, ttl, t)
        return message, [message_event("message.claimed", message), *presence(c, agent_id, t)]
    return answer(commit(change))


@route(bp, "POST", "/<id:message_id>/release", "The holder gives a claim back early.",
       body=AgentAct, answers={200: Message, 404: "unknown message or agent",
                               409: "not claimed by this agent, or " + STALE})
def release(message_id, body: AgentAct):
    agent_id = body.agentId

    def change(c):
        acting_agent(c, agent_id, body)
        message = messages.release(c, message_id, agent_id)
        return message, [message_event("message.claim_released", message)]
    return answer(commit(change))


def mark_read(body, ids: list[int]) -> list[dict]:
    agent_id = body.agentId
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        missing = set(ids) - messages.existing_ids(c, ids)
        if missing:
            raise not_found(f"message {min(missing)} not found")
        changed = messages.mark_read(c, ids, agent_id)
        policies.note_activity(c, agent_id, t)      # a managed agent at work is not idle
        return changed, [*[message_event("message.read", m) for m in changed],
                         *presence(c, agent_id, t)]
    return commit(change)


@route(bp, "POST", "/<id:message_id>/read", "Mark read for agentId (idempotent).",
       body=AgentAct, answers={200: Message, 404: "unknown message or agent", 409: STALE})
def read_one(message_id, body: AgentAct):
    mark_read(body, [message_id])
    return answer(messages.get_or_404(conn(), message_id))


@route(bp, "POST", "/read", "Mark many read for agentId; answers the ids that changed.",
       body=ReadMany, answers={200: ReadResult, 404: "unknown message or agent", 409: STALE})
def read_many(body: ReadMany):
    changed = mark_read(body, sorted(set(body.ids)))
    return answer({"ok": True, "read": [m["id"] for m in changed]})


@route(bp, "DELETE", "/<id:message_id>", "Delete a message.", answers={200: Ok, 404: UNKNOWN})
def delete_message(message_id):
    def change(c):
        message = messages.delete(c, message_id)
        if message is None:
            raise not_found(f"message {message_id} not found")
        return {"ok": True}, [message_deleted(message)]
    return answer(commit(change))
