"""Messages: sending to every address form, the inbox poll, claims, reads,
threads, and queued delivery for pool:/policy: addresses (API.md §2)."""
from ..addresses import inbox_addresses, split
from ..errors import ApiError, conflict, not_found
from . import JsonArray, Record, dumps, loads, placeholders, policies, pools, receipts, where

KINDS = ("chat", "channel.event", "task", "pair", "control", "system")


def to_dict(row) -> Record:
    message = {
        "id": row["id"],
        "from": row["from_agent"],
        "to": row["to_addr"],
        "kind": row["kind"],
        "subject": row["subject"],
        "body": row["body"],
        "payload": loads(row["payload"], {}),
        "meta": loads(row["meta"], {}),
        "channel": row["channel"],
        "replyTo": row["reply_to"],
        "threadId": row["thread_id"] or row["id"],
        "claimable": bool(row["claimable"]),
        "claimTtlSeconds": row["claim_ttl_seconds"],
        "claimedBy": row["claimed_by"],
        "claimedAt": row["claimed_at"],
        "claimExpiresAt": row["claim_expires_at"],
        "idempotencyKey": row["idempotency_key"],
        "readBy": loads(row["read_by"], []),
        "deliveryStatus": row["delivery_status"],
        "resolvedToAgent": row["resolved_to"],
        "expiresAt": row["expires_at"],
        "createdAt": row["created_at"],
    }
    if row["ack_required"]:
        # Only a message that asks for an ack says so: other messages (and polls) stay as small.
        message.update(ackRequired=True, ackBy=row["ack_by"], maxDeliveries=row["max_deliveries"],
                       escalateTo=row["escalate_to"])
    return Record(message)


# The same message as to_dict() gives, as SQLite's JSON, for the inbox poll
# (see inbox()). The two are kept equal field by field by
# tests/test_message_json.py::test_one_representation_of_a_message.
_PLAIN_JSON = """json_object(
    'id', id, 'from', from_agent, 'to', to_addr, 'kind', kind, 'subject', subject,
    'body', body, 'payload', json(payload), 'meta', json(meta), 'channel', channel,
    'replyTo', reply_to, 'threadId', coalesce(thread_id, id),
    'claimable', json(CASE WHEN claimable THEN 'true' ELSE 'false' END),
    'claimTtlSeconds', claim_ttl_seconds, 'claimedBy', claimed_by, 'claimedAt', claimed_at,
    'claimExpiresAt', claim_expires_at, 'idempotencyKey', idempotency_key,
    'readBy', json(read_by), 'deliveryStatus', delivery_status,
    'resolvedToAgent', resolved_to, 'expiresAt', expires_at, 'createdAt', created_at)"""
_ACK_JSON = f"""json_set({_PLAIN_JSON},
    '$.ackRequired', json('true'), '$.ackBy', ack_by, '$.maxDeliveries', max_deliveries,
    '$.escalateTo', escalate_to)"""
MESSAGE_JSON = f"CASE WHEN ack_required THEN {_ACK_JSON} ELSE {_PLAIN_JSON} END"
# A message shown again because its ack is late (only messages asking for one are).
_SHOWN_AGAIN = f"json_set({_ACK_JSON}, '$.redelivered', json('true'))"


def in_id_order(rows) -> list[dict]:
    # RETURNING gives rows in no promised order; callers emit events in id order.
    return sorted(map(to_dict, rows), key=lambda m: m["id"])


# The SET clause that gives a claim back, whoever asks (holder, reaper, deletion).
UNCLAIM = "claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL"


def get(conn, message_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    return to_dict(row) if row else None


def get_or_404(conn, message_id: int) -> dict:
    message = get(conn, message_id)
    if message is None:
        raise not_found(f"message {message_id} not found")
    return message


# --- sending -------------------------------------------------------------

def resolve(conn, kind: str, name: str, now: int,
            max_age: int | None) -> tuple[str, str | None, int | None]:
    """Where a message to address `kind:name` goes now: (deliveryStatus, resolvedTo,
    expiresAt). A direct address is checked by send's INSERT itself."""
    if kind == "orchestrator":
        row = conn.execute("SELECT agent_id FROM orchestrators WHERE id = ?", (name,)).fetchone()
        if row is None:
            raise not_found(f"orchestrator {name} not found")
        return "delivered", row["agent_id"], None
    if kind == "pool":
        pool = pools.get(conn, name)
        if pool is None:
            raise not_found(f"pool {name} not found")
        member = pools.pick(conn, pool, now)
        if member:
            return "delivered", member, None
        return "queued", None, now + 1000 * (policies.DEFAULT_QUEUE_AGE if max_age is None else max_age)
    if kind == "policy":
        policy = policies.get(conn, name)
        if policy is None:
            raise not_found(f"spawn policy {name} not found")
        agent_id = policies.running_agent(conn, name)
        if agent_id:
            policies.note_activity(conn, agent_id, now)
            return "delivered", agent_id, None
        age = policies.queue_max_age(policy) if max_age is None else max_age
        return "queued", None, now + 1000 * age
    return "delivered", None, None      # direct; broadcast and groups are matched when read


_NAMED = {"direct": "agents WHERE id = ?", "pool": "pools WHERE name = ?",
          "orchestrator": "orchestrators WHERE id = ?"}


def address_exists(conn, address: str) -> bool:
    """Whether what the address names exists (a group address always does)."""
    kind, name = split(address)
    if kind == "policy":
        return policies.get(conn, name) is not None
    if kind not in _NAMED:
        return True
    return conn.execute(f"SELECT 1 FROM {_NAMED[kind]}", (name,)).fetchone() is not None


def find_idempotent(conn, sender: str, key: str) -> dict | None:
    row = conn.execute("SELECT * FROM messages WHERE from_agent = ? AND idempotency_key = ?",
                       (sender, key)).fetchone()
    return to_dict(row) if row else None


_COLUMNS = ("from_agent", "to_addr", "kind", "subject", "body", "payload", "meta", "channel",
            "reply_to", "thread_id", "claimable", "claim_ttl_seconds", "idempotency_key",
            "delivery_status", "resolved_to", "expires_at", "created_at", "ack_required", "ack_by",
            "max_deliveries", "escalate_to")
_INSERT = (f"INSERT INTO messages ({', '.join(_COLUMNS)}) SELECT {placeholders(_COLUMNS)}"
           " WHERE ? IS NULL OR EXISTS (SELECT 1 FROM agents WHERE id = ?)")


def send(conn, m: dict, now: int) -> tuple[dict, bool]:
    """Store a message (validated fields, API names). Returns (message, created).

    A repeated idempotencyKey from the same sender returns the first message.
    """
    if m.get("idempotencyKey"):
        first = find_idempotent(conn, m["from"], m["idempotencyKey"])
        if first:
            return first, False
    thread_id = None
    if m.get("replyTo") is not None:
        parent = conn.execute("SELECT id, thread_id FROM messages WHERE id = ?",
                              (m["replyTo"],)).fetchone()
        if parent is None:
            raise ApiError(404, f"replyTo must be the id of an existing message ({m['replyTo']} is not)")
        thread_id = parent["thread_id"] or parent["id"]
    kind, name = split(m["to"])
    status, resolved_to, expires_at = resolve(conn, kind, name, now, m.get("maxAgeSeconds"))
    direct = name if kind == "direct" else None
    row = dict(zip(_COLUMNS, (
        m["from"], m["to"], m.get("kind") or "chat", m.get("subject"), m["body"],
        dumps(m.get("payload") or {}), dumps(m.get("meta") or {}), m.get("channel"),
        m.get("replyTo"), thread_id, int(bool(m.get("claimable"))),
        m.get("claimTtlSeconds") or 300, m.get("idempotencyKey"), status, resolved_to,
        expires_at, now, *ack_columns(m, now))))
    # One statement: the direct target's existence is checked by the INSERT itself,
    # and the stored row is known without reading it back.
    inserted = conn.execute(_INSERT, (*row.values(), direct, direct))
    if inserted.rowcount == 0:
        raise not_found(f"agent {direct} not found")
    message = to_dict({**row, "id": inserted.lastrowid, "read_by": "[]", "claimed_by": None,
                       "claimed_at": None, "claim_expires_at": None})
    if message.get("ackRequired"):
        if resolved_to:
            receipts.open_for_agent(conn, message, resolved_to)
        elif kind in ("direct", "broadcast", "label", "tag", "cap"):
            receipts.open_for_address(conn, message, kind, name)
    return message, True


DEFAULT_ACK_WINDOW = 1800       # seconds, when ackRequired names no deadline
DEFAULT_MAX_DELIVERIES = 3


def ack_columns(m: dict, now: int) -> tuple:
    """(ack_required, ack_by, max_deliveries, escalate_to) of a message to send."""
    if not m.get("ackRequired"):
        return 0, None, None, None
    ack_by = m.get("ackBy") or now + 1000 * (m.get("ackWithinSeconds") or DEFAULT_ACK_WINDOW)
    return (1, ack_by, m.get("maxDeliveries") or DEFAULT_MAX_DELIVERIES, m.get("escalateTo"))


# --- reading -------------------------------------------------------------

def inbox(conn, agent: dict, now: int, *, since: int = 0, unread: bool = False,
          kind: str | None = None, channel: str | None = None, ack_pending: bool = False,
          limit: int = 100) -> tuple[JsonArray, list[int]]:
    """What `agent` reads: addressed to it (at read time for groups), not its own,
    not claimed by someone else; ascending from `since`. The answer's JSON text,
    and the ids of the messages in it that ask for an ack (found only when
    there are some: ordinary answers are not parsed).

    Messages redelivered to the agent (README "Acknowledgements and receipts")
    come first, even below `since`, with `redelivered: true` (the `again`
    rows; ids above `since` are flagged in place): their ids are at most
    `since` and the others' above it, so the answer stays in id order. With
    no redelivery pending, that costs one seek into an empty partial index;
    per message, a test of ack_required.

    SQLite writes the whole answer in one statement (json_object per message,
    json_group_array over them). These are SQLite-only functions (PostgreSQL
    has json_build_object and json_agg); they are used because row by row,
    each row is one sqlite3_step that gives up the GIL and must win it back,
    and a dict to build and encode: for 50 messages that took 310 us of
    the poll's 680 in process, and under 16 concurrent polls it doubled the
    server's CPU per poll (1.17 ms against 0.65 now, 27 futex calls a poll
    against 15). The subquery's order is the order SQLite feeds the
    aggregate (3.44's ORDER BY inside the aggregate would say so; this
    SQLite is 3.40); tests check the order.
    """
    me = agent["id"]
    addrs = inbox_addresses(agent)
    common = ["AND NOT (claimed_by IS NOT NULL AND claimed_by != ? AND claim_expires_at > ?)"]
    common_args = [me, now]
    if kind:
        common.append("AND kind = ?")
        common_args.append(kind)
    if channel:
        common.append("AND channel = ?")
        common_args.append(channel)
    common = " ".join(common)
    fresh, fresh_args = [], []
    if unread:
        fresh.append("AND NOT EXISTS (SELECT 1 FROM json_each(messages.read_by) WHERE value = ?)")
        fresh_args.append(me)
    if ack_pending:
        fresh.append("AND ack_required = 1 AND EXISTS (SELECT 1 FROM receipts WHERE message_id = "
                     "messages.id AND agent_id = ? AND owed = 1 AND state != 'acked')")
        fresh_args.append(me)
    fresh = " ".join(fresh)
    flagged = (f"CASE WHEN NOT ack_required THEN {_PLAIN_JSON} WHEN EXISTS (SELECT 1 FROM receipts "
               f"WHERE message_id = m.id AND agent_id = ? AND redelivered = 1) THEN {_SHOWN_AGAIN} "
               f"ELSE {_ACK_JSON} END")
    # `pending`: a redelivery at or below `since` waits for the agent (a seek into a
    # partial index that is empty but for late acks). HAVING: an empty inbox is no
    # row, so one sqlite3_step (each gives up the GIL) answers the commonest poll.
    sql = f"""SELECT count(*), json_group_array({flagged}),
                     EXISTS (SELECT 1 FROM receipts WHERE agent_id = ? AND redelivered = 1
                                AND message_id <= ?) AS pending
                FROM (SELECT * FROM messages
                       WHERE (to_addr IN ({placeholders(addrs)}) OR resolved_to = ?) AND id > ?
                         AND from_agent != ? {common} {fresh}
                       ORDER BY id LIMIT ?) AS m
              HAVING count(*) > 0 OR pending"""
    args = [me, me, since, *addrs, me, since, me, *common_args, *fresh_args]
    row = conn.execute(sql, [*args, limit]).fetchone()
    if not row:
        return JsonArray("[]", 0), []
    count, text, pending = row
    if pending:
        again, shown = conn.execute(
            f"""SELECT count(*), json_group_array({_SHOWN_AGAIN}) FROM (
                  SELECT * FROM messages
                   WHERE id IN (SELECT message_id FROM receipts
                                 WHERE agent_id = ? AND redelivered = 1 AND message_id <= ?)
                     {common} ORDER BY id LIMIT ?)""", (me, since, *common_args, limit)).fetchone()
        if again and count > limit - again:
            count, text, _ = conn.execute(sql, [*args, limit - again]).fetchone() \
                if limit > again else (0, "[]", 1)
        if again:
            text = shown[:-1] + ("," + text[1:] if count else "]")
            count += again
    # Only a message asking for an ack has this key (a string value would have its quotes
    # escaped), so an ordinary answer is never parsed here.
    asking = []
    if '"ackRequired":true' in text:
        asking = [m["id"] for m in loads(text) if m.get("ackRequired") is True]
    return JsonArray(text, count), asking


# A message someone still owes an ack for (overdue included).
AWAITING_ACK = ("ack_required = 1 AND EXISTS (SELECT 1 FROM receipts WHERE message_id = "
                "messages.id AND owed = 1 AND state != 'acked')")


def recent(conn, *, sender=None, to=None, kind=None, channel=None, before=None,
           awaiting_ack=False, limit=100) -> list[dict]:
    """The dashboard's view: newest first."""
    clause, args = where(("from_agent = ?", sender), ("to_addr = ?", to), ("kind = ?", kind),
                         ("channel = ?", channel), ("id < ?", before),
                         (AWAITING_ACK,) if awaiting_ack else ("", None))
    rows = conn.execute(f"SELECT * FROM messages{clause} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]


def latest_id(conn) -> int:
    return conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0


def queued_for(conn, address: str, limit: int = 100) -> list[dict]:
    rows = conn.execute("SELECT * FROM messages WHERE delivery_status = 'queued' AND to_addr = ? "
                        "ORDER BY id LIMIT ?", (address, limit))
    return [to_dict(r) for r in rows]


def thread(conn, message: dict) -> list[dict]:
    root = message["threadId"]
    rows = conn.execute("SELECT * FROM messages WHERE id = ? OR thread_id = ? ORDER BY id",
                        (root, root))
    return [to_dict(r) for r in rows]


# --- claims: one conditional UPDATE decides who holds a message ------------

def claim(conn, message_id: int, agent_id: str, ttl_seconds: int | None, now: int) -> dict:
    row = conn.execute(
        """UPDATE messages
              SET claimed_at = CASE WHEN claimed_by = :agent THEN claimed_at ELSE :now END,
                  claimed_by = :agent,
                  claim_expires_at = :now + 1000 * coalesce(:ttl, claim_ttl_seconds)
            WHERE id = :id AND claimable = 1 AND delivery_status = 'delivered'
              AND (claimed_by IS NULL OR claimed_by = :agent OR claim_expires_at <= :now)
        RETURNING *""",
        {"agent": agent_id, "now": now, "ttl": ttl_seconds, "id": message_id}).fetchone()
    if row:
        return to_dict(row)
    message = get_or_404(conn, message_id)
    if not message["claimable"]:
        raise ApiError(400, f"message {message_id} is not claimable")
    if message["deliveryStatus"] != "delivered":
        raise conflict(f"message {message_id} is {message['deliveryStatus']}, not delivered")
    raise conflict(f"already claimed by {message['claimedBy']}")


def release(conn, message_id: int, agent_id: str) -> dict:
    row = conn.execute(
        f"""UPDATE messages SET {UNCLAIM}
            WHERE id = ? AND claimed_by = ? RETURNING *""", (message_id, agent_id)).fetchone()
    if row:
        return to_dict(row)
    message = get_or_404(conn, message_id)
    if message["claimedBy"] is None:
        raise conflict(f"message {message_id} is not claimed")
    raise conflict(f"message {message_id} is claimed by {message['claimedBy']}, not {agent_id}")


def release_expired_claims(conn, now: int) -> list[dict]:
    rows = conn.execute(
        f"""UPDATE messages SET {UNCLAIM}
            WHERE claimed_by IS NOT NULL AND claim_expires_at <= ? RETURNING *""", (now,))
    return in_id_order(rows)


def release_claims_of(conn, agent_id: str) -> list[dict]:
    rows = conn.execute(
        f"""UPDATE messages SET {UNCLAIM}
            WHERE claimed_by = ? RETURNING *""", (agent_id,))
    return in_id_order(rows)


# --- reads and deletes -----------------------------------------------------

def mark_read(conn, message_ids: list[int], agent_id: str) -> list[dict]:
    """Add agent_id to readBy where it is missing; returns the messages that changed."""
    rows = conn.execute(
        f"""UPDATE messages SET read_by = json_insert(read_by, '$[#]', ?)
             WHERE id IN ({placeholders(message_ids)})
               AND NOT EXISTS (SELECT 1 FROM json_each(messages.read_by) WHERE value = ?)
         RETURNING *""", (agent_id, *message_ids, agent_id))
    return in_id_order(rows)


def existing_ids(conn, message_ids: list[int]) -> set[int]:
    rows = conn.execute(f"SELECT id FROM messages WHERE id IN ({placeholders(message_ids)})",
                        message_ids)
    return {r["id"] for r in rows}


def delete(conn, message_id: int) -> dict | None:
    row = conn.execute("DELETE FROM messages WHERE id = ? RETURNING *", (message_id,)).fetchone()
    return to_dict(row) if row else None


# --- queued delivery (API.md §2.4) ---------------------------------------------

def resolve_queued(conn, address: str, agent_id: str, now: int) -> list[dict]:
    """Deliver every unexpired message queued for `address` to `agent_id`, in send order."""
    rows = conn.execute(
        """UPDATE messages SET delivery_status = 'delivered', resolved_to = ?
            WHERE delivery_status = 'queued' AND to_addr = ? AND expires_at > ?
        RETURNING *""", (agent_id, address, now))
    return owe_acks(conn, in_id_order(rows))


def owe_acks(conn, resolved: list[dict]) -> list[dict]:
    """Queued messages that reached an agent: those asking for an ack are owed by it."""
    for message in resolved:
        if message.get("ackRequired"):
            receipts.open_for_agent(conn, message, message["resolvedToAgent"])
    return resolved


def resolve_pool_queues(conn, agent: dict, now: int) -> list[dict]:
    """An agent came online: queued messages of its pools go out, one member
    each by the pool's strategy (the newcomer among them)."""
    delivered = []
    for pool in pools.pools_with_member(conn, agent):
        members = pools.online_members(conn, pool)     # fixed for this transaction
        for message in queued_for(conn, "pool:" + pool["name"], limit=500):
            if message["expiresAt"] is not None and message["expiresAt"] <= now:
                continue
            member = pools.pick(conn, pool, now, members)
            if member is None:
                break
            row = conn.execute(
                "UPDATE messages SET delivery_status = 'delivered', resolved_to = ? "
                "WHERE id = ? AND delivery_status = 'queued' RETURNING *",
                (member, message["id"])).fetchone()
            if row:
                delivered.append(to_dict(row))
    return owe_acks(conn, delivered)


def expire_queued(conn, now: int) -> list[dict]:
    rows = conn.execute(
        """UPDATE messages SET delivery_status = 'expired'
            WHERE delivery_status = 'queued' AND expires_at <= ? RETURNING *""", (now,))
    return in_id_order(rows)


# --- counts ---------------------------------------------------------------------

def count(conn) -> int:
    # count(*) reads the smallest index; grouping by kind reads the whole table
    # (about 30 times slower at a million messages), which health cannot afford.
    return conn.execute("SELECT count(*) FROM messages").fetchone()[0]


def counts_by_kind(conn) -> dict:
    return {r["kind"]: r["n"] for r in
            conn.execute("SELECT kind, count(*) AS n FROM messages GROUP BY kind")}


def queued_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM messages WHERE delivery_status = 'queued'").fetchone()[0]
