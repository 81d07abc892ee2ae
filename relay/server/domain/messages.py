"""Messages (the /api/messages summaries): sending to every address form, claims, reads,
deletes, and the inbox poll with its presence."""
from ..events import Event, message_deleted, message_event
from .. import search_query
from ..store import JsonArray, messages, policies, receipts
from . import acks, addresses, agents, presence
from .errors import Conflict, Forbidden, Invalid, NotFound


def get(c, message_id: int) -> dict:
    message = messages.get(c, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return message


def store(c, fields: dict, t: int) -> tuple[dict, bool]:
    """Store one message (validated fields, API names); (message, created). A
    repeated idempotencyKey from the same sender answers the first message."""
    if fields.get("idempotencyKey"):
        first = messages.find_idempotent(c, fields["from"], fields["idempotencyKey"])
        if first:
            # A repeated idempotencyKey answers the first message, whatever its ackBy says now.
            return first, False
    acks.check_send(c, fields, t)
    thread_id = None
    if fields.get("replyTo") is not None:
        thread_id = messages.thread_of(c, fields["replyTo"])
        if thread_id is None:
            raise NotFound(f"replyTo must be the id of an existing message "
                           f"({fields['replyTo']} is not)")
    kind, name = addresses.split(fields["to"])
    status, resolved_to, expires_at = addresses.resolve(c, kind, name, t,
                                                        fields.get("maxAgeSeconds"))
    message = messages.insert(c, {**fields, **ack_fields(fields, t)}, thread_id, status,
                              resolved_to, expires_at, t, direct=name if kind == "direct" else None)
    if message is None:
        raise NotFound(f"agent {name} not found")
    if message.get("ackRequired"):
        # Who owes the ack: the agent it resolved to, else every agent the address reaches now.
        if resolved_to:
            receipts.open_for_agent(c, message, resolved_to)
        elif kind in ("direct", "broadcast", "label", "tag", "cap"):
            receipts.open_for_address(c, message, kind, name)
    return message, True


DEFAULT_ACK_WINDOW = 1800       # seconds, when ackRequired names no deadline
DEFAULT_MAX_DELIVERIES = 3


def ack_fields(m: dict, t: int) -> dict:
    """A message's ack options as stored: the deadline and delivery count filled in."""
    if not m.get("ackRequired"):
        return {}
    window = m.get("ackWithinSeconds") or DEFAULT_ACK_WINDOW
    return {"ackBy": m.get("ackBy") or t + 1000 * window,
            "maxDeliveries": m.get("maxDeliveries") or DEFAULT_MAX_DELIVERIES}


def checked_sender(integration: str | None, fields: dict) -> dict:
    """An integration token speaks as its integration, never as an agent or the relay."""
    if integration is not None:
        if fields["from"] != integration:
            raise Forbidden(f"from must be {integration}: an integration token sends as "
                            "its integration")
        if fields.get("kind") == "system":
            raise Forbidden("kind system is the relay's own: an integration token may not "
                            "send it")
    return fields


def arrived(message: dict):
    """The event a new message makes: message.queued for a pool:/policy: address
    nobody can take yet, else message.new."""
    queued = message["deliveryStatus"] == "queued"
    return message_event("message.queued" if queued else "message.new", message, message["from"])


def send(relay, connect, fields: dict, t: int, depth: int = 0) -> tuple[dict, bool]:
    """POST /api/messages, the WebSocket's send and an automation's message action:
    store and publish one message; (message, created). Sending counts as
    presence for `from` when it is a registered agent (throttled: presence.py).
    `connect()` gives a connection only when the sender is not in memory: the
    change runs on the committer's own."""
    touch = presence.due(relay, presence.known_lazily(relay, connect, fields["from"]), t)

    def change(c):
        message, created = store(c, fields, t)
        if not created:
            return (message, False), []
        return (message, True), [arrived(message),
                                 *(agents.presence(c, fields["from"], t) if touch else [])]
    message, created = relay.committer.commit(change, depth, ordered=True)
    if created and touch:
        presence.written(relay, fields["from"], t)
    return message, created


def poll_agent(relay, connect, agent_id: str, t: int) -> dict:
    """The polling agent (404 when unknown), its presence noted; `connect()`
    gives a connection when the agent must be read."""
    agent = presence.known_lazily(relay, connect, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    presence.note(relay, agent, t)
    return agent


def inbox(conn, agent: dict, t: int, **filters):
    """What `agent` reads (store/messages.py inbox), to every address that reaches
    it: (the answer's JSON text, ids of the messages in it asking for an ack)."""
    return messages.inbox(conn, agent["id"], addresses.inbox_addresses(agent), t, **filters)


def poll(relay, connect, agent: dict, t: int, *, since: int, unread: bool = False,
         kind: str | None = None, channel: str | None = None, ack_pending: bool = False,
         limit: int = 100) -> tuple[JsonArray, list[int]]:
    """The inbox poll: inbox(), or [] from memory when nothing can have
    arrived since an empty one (empty_polls.py); `connect()` gives the
    connection only when the database is read. A redelivery (a late ack)
    shows a message again below `since`: its message.redelivered event
    forgets what was learned, as any message event naming the agent does."""
    known = relay.empty_polls
    reach = tuple(addresses.inbox_addresses(agent))
    filters = ((unread, kind, channel, ack_pending) if unread or kind or channel or ack_pending
               else ())
    if known.empty(agent["id"], reach, filters, since, t):
        return JsonArray("[]", 0), []
    mark = known.mark(agent["id"])
    conn = connect()
    found, asking = messages.inbox(conn, agent["id"], list(reach), t, since=since, unread=unread,
                                   kind=kind, channel=channel, ack_pending=ack_pending,
                                   limit=limit)
    if not found.count and known.enabled:
        until = messages.first_claim_end(conn, since, t)
        known.learn(agent["id"], reach, filters, since, until, mark)
    return found, asking


def carried(relay, conn, agent_id: str, asking: list[int], t: int) -> None:
    """A poll carried these messages (each asks for an ack) to the agent: its
    receipts say delivered (written only when one does not yet)."""
    fresh = asking and receipts.undelivered(conn, agent_id, asking)
    if fresh:
        relay.committer.commit(lambda c: (receipts.delivered(c, agent_id, fresh, t), []))


def with_receipts(conn, listed: list[dict]) -> list[dict]:
    """Messages as listed, each sent with ackRequired carrying its receipts."""
    asking = [m["id"] for m in listed if m.get("ackRequired")]
    if not asking:
        return listed
    found = receipts.of_messages(conn, asking)
    return [{**m, "receipts": found.get(m["id"], [])} if m.get("ackRequired") else m
            for m in listed]


def overdue(conn, **filters) -> list[dict]:
    """Every overdue receipt with its message, newest message first."""
    found = receipts.overdue(conn, **filters)
    shown = {i: messages.get(conn, i) for i in {r["messageId"] for r in found}}
    return [{**r, "message": shown[r["messageId"]]} for r in found]


def search(relay, conn, query, t: int) -> list[dict]:
    """GET /api/messages/search: `query` as its schema reads it; with for, only what
    that agent can read and what it sent."""
    agent = None
    if query.for_ is not None:
        agent = presence.known(relay, conn, query.for_)
        if agent is None:
            raise NotFound(f"agent {query.for_} not found")
    # The engine's own index: FTS5 on SQLite, a tsvector on PostgreSQL (dialects/).
    return conn.dialect.search_store().search(
        conn, search_query.parse(query.q), agent=agent,
        addrs=addresses.inbox_addresses(agent) if agent else [], now=t, sender=query.from_,
        to=query.to, kind=query.kind, channel=query.channel, thread=query.thread,
        since=query.since, before=query.before, limit=query.limit)


def claim(c, message_id: int, agent_id: str, session, ttl: int | None, t: int):
    agents.acting(c, agent_id, session)
    message = messages.claim(c, message_id, agent_id, ttl, t)
    if message is None:
        message = get(c, message_id)
        if not message["claimable"]:
            raise Invalid(f"message {message_id} is not claimable")
        if message["deliveryStatus"] != "delivered":
            raise Conflict(f"message {message_id} is {message['deliveryStatus']}, not delivered")
        raise Conflict(f"already claimed by {message['claimedBy']}")
    return message, [message_event("message.claimed", message), *agents.presence(c, agent_id, t)]


def release(c, message_id: int, agent_id: str, session):
    agents.acting(c, agent_id, session)
    message = messages.release(c, message_id, agent_id)
    if message is None:
        message = get(c, message_id)
        if message["claimedBy"] is None:
            raise Conflict(f"message {message_id} is not claimed")
        raise Conflict(f"message {message_id} is claimed by {message['claimedBy']}, "
                       f"not {agent_id}")
    return message, [message_event("message.claim_released", message)]


def mark_read(c, ids: list[int], agent_id: str, session, t: int):
    agent = agents.acting(c, agent_id, session)
    missing = set(ids) - messages.existing_ids(c, ids)
    if missing:
        raise NotFound(f"message {min(missing)} not found")
    changed = messages.mark_read(c, ids, agent_id)
    owed = [m["id"] for m in changed
            if m.get("ackRequired") and acks.recipient(c, m, agent) is not None]
    if owed:
        receipts.read(c, agent_id, owed, t)
    policies.note_activity(c, agent_id, t)      # a managed agent at work is not idle
    return changed, [*[message_event("message.read", m) for m in changed],
                     *agents.presence(c, agent_id, t)]


def delete(c, message_id: int):
    message = messages.delete(c, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return {"ok": True}, [message_deleted(message)]


def broadcast(c, fields: dict, t: int):
    """POST /api/system/broadcast: a system message to everyone, and system.broadcast."""
    message, _ = store(c, fields, t)
    return message, [message_event("message.new", message, message["from"]),
                     Event("system.broadcast", str(message["id"]), message, {"to": "broadcast"},
                           message["from"])]
