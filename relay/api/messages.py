"""Messages (API.md §2): send, poll (and long poll), claim, release, read, delete."""
import time

from flask import Blueprint

from .. import validation as v
from ..addresses import split
from ..errors import ApiError, bad_request, not_found
from ..broadcaster import CLOSED, RESET, Filter
from ..events import agent_event, message_deleted, message_event
from ..store import agents, messages
from . import answer, commit, conn, now, relay
from .agents import acting_agent, known_agent

bp = Blueprint("messages", __name__, url_prefix="/api/messages")

ADDRESS_MAX = 260
# Message events after which a held long poll looks at the inbox again.
WAKING_EVENTS = ["message.new", "message.claim_released"]


def read_address(body: dict, name: str) -> str:
    address = v.string(body, name, required=True, max_len=ADDRESS_MAX)
    kind, target = split(address)
    if kind == "broadcast":
        return address
    if kind in ("label", "tag", "cap"):
        if not target or len(target) > v.NAME_MAX:
            raise bad_request(f"{name} {kind}: needs a name of 1-{v.NAME_MAX} characters")
        return address
    v.check_id(target, f"{name} ({kind} id)" if kind != "direct" else name)
    return address


def read_message(body: dict) -> dict:
    """A message to send, validated field by field (shared with the WebSocket)."""
    return {
        "from": v.identifier(body, "from", required=True),
        "to": read_address(body, "to"),
        "body": v.string(body, "body", required=True, max_len=v.BODY_MAX),
        "kind": v.choice(body, "kind", messages.KINDS, default="chat"),
        "subject": v.string(body, "subject", max_len=v.SUBJECT_MAX),
        "payload": v.mapping(body, "payload"),
        "meta": v.mapping(body, "meta"),
        "channel": v.string(body, "channel"),
        "replyTo": v.integer(body, "replyTo", 1, v.MAX_ID),
        "claimable": v.boolean(body, "claimable", default=False),
        "claimTtlSeconds": v.integer(body, "claimTtlSeconds", 1, 86400, default=300),
        "maxAgeSeconds": v.integer(body, "maxAgeSeconds", 0, 2592000),
        "idempotencyKey": v.string(body, "idempotencyKey", max_len=v.ID_MAX),
    }


def send(body: dict) -> tuple[dict, bool]:
    """Validate, store and publish one message; (message, created)."""
    fields = read_message(body)
    t = now()
    cache = relay().agent_cache
    # Sends count as presence (at most every few seconds); `from` need not be an agent.
    touch = cache.presence_due(known_agent(fields["from"]), t)

    def change(c):
        message, created = messages.send(c, fields, t)
        if not created:
            return (message, False), []
        agent, came_back = agents.touch(c, fields["from"], t) if touch else (None, False)
        queued = message["deliveryStatus"] == "queued"
        return (message, True), [
            message_event("message.queued" if queued else "message.new", message, message["from"]),
            agent_event("agent.status", agent) if came_back else None]
    message, created = commit(change)
    if created and touch:
        cache.presence_written(fields["from"], t)
    return message, created


@bp.post("")
def post_message():
    message, created = send(v.json_body())
    return answer(message, 201 if created else 200)


def note_presence(agent: dict) -> None:
    t, cache = now(), relay().agent_cache
    if not cache.presence_due(agent, t):
        return

    def change(c):
        touched, changed = agents.touch(c, agent["id"], t)
        return None, [agent_event("agent.status", touched) if changed else None]
    commit(change)
    cache.presence_written(agent["id"], t)


@bp.get("")
def list_messages():
    limit, since, before = v.page()
    kind = v.query_choice("kind", messages.KINDS)
    channel = v.query_string("channel", max_len=v.NAME_MAX)
    agent_id = v.query_string("for")
    if agent_id is None:
        return answer(messages.recent(
            conn(), sender=v.query_string("from"), to=v.query_string("to", max_len=ADDRESS_MAX),
            kind=kind, channel=channel, before=before, limit=limit))
    unread = v.query_bool("unread", False)
    wait = v.query_int("wait", 0, 60, 0)
    agent = known_agent(agent_id)
    if agent is None:
        raise not_found(f"agent {agent_id} not found")
    note_presence(agent)

    def poll():
        return messages.inbox(conn(), agent, now(), since=since or 0, unread=unread,
                              kind=kind, channel=channel, limit=limit)

    return answer(long_poll(agent, poll, wait) if wait else poll())


def long_poll(agent: dict, poll, wait: int):
    """Hold the poll until a message for the agent arrives or `wait` seconds pass.

    It subscribes before the first look, so a message sent in between still
    wakes it; the broadcaster wakes it, nothing sleeps and re-queries.
    """
    r = relay()
    if not r.slots.acquire("poll"):
        raise ApiError(503, "no stream slot free for a long poll", {"Retry-After": "1"})
    subscription = r.broadcaster.subscribe(Filter(WAKING_EVENTS, agent))
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
        r.broadcaster.unsubscribe(subscription)
        r.slots.release("poll")


@bp.get("/cursor")
def cursor():
    return answer({"latestId": messages.latest_id(conn())})


@bp.get("/queued")
def queued():
    address = v.query_string("for", required=True, max_len=ADDRESS_MAX)
    limit, _, _ = v.page()
    return answer(messages.queued_for(conn(), address, limit))


@bp.get("/<int:message_id>")
def get_message(message_id):
    return answer(messages.get_or_404(conn(), message_id))


@bp.get("/<int:message_id>/thread")
def get_thread(message_id):
    c = conn()
    return answer(messages.thread(c, messages.get_or_404(c, message_id)))


@bp.get("/<int:message_id>/status")
def get_status(message_id):
    m = messages.get_or_404(conn(), message_id)
    return answer({k: m[k] for k in ("id", "deliveryStatus", "resolvedToAgent", "expiresAt",
                                     "claimedBy", "claimExpiresAt", "readBy")})


@bp.post("/<int:message_id>/claim")
def claim(message_id):
    body = v.json_body()
    agent_id = v.identifier(body, "agentId", required=True)
    ttl = v.integer(body, "ttlSeconds", 1, 86400)
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        message = messages.claim(c, message_id, agent_id, ttl, t)
        agents.touch(c, agent_id, t)
        return message, [message_event("message.claimed", message)]
    return answer(commit(change))


@bp.post("/<int:message_id>/release")
def release(message_id):
    body = v.json_body()
    agent_id = v.identifier(body, "agentId", required=True)

    def change(c):
        acting_agent(c, agent_id, body)
        message = messages.release(c, message_id, agent_id)
        return message, [message_event("message.claim_released", message)]
    return answer(commit(change))


def mark_read(body: dict, ids: list[int]) -> list[dict]:
    agent_id = v.identifier(body, "agentId", required=True)
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        missing = set(ids) - messages.existing_ids(c, ids)
        if missing:
            raise not_found(f"message {min(missing)} not found")
        changed = messages.mark_read(c, ids, agent_id)
        agents.touch(c, agent_id, t)
        return changed, [message_event("message.read", m) for m in changed]
    return commit(change)


@bp.post("/<int:message_id>/read")
def read_one(message_id):
    body = v.json_body()
    mark_read(body, [message_id])
    return answer(messages.get_or_404(conn(), message_id))


@bp.post("/read")
def read_many():
    body = v.json_body()
    ids = body.get("ids")
    if (not isinstance(ids, list) or not 1 <= len(ids) <= 500
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)):
        raise bad_request("ids must be a list of 1-500 positive integer message ids")
    changed = mark_read(body, sorted(set(ids)))
    return answer({"ok": True, "read": [m["id"] for m in changed]})


@bp.delete("/<int:message_id>")
def delete_message(message_id):
    def change(c):
        message = messages.delete(c, message_id)
        if message is None:
            raise not_found(f"message {message_id} not found")
        return {"ok": True}, [message_deleted(message)]
    return answer(commit(change))
