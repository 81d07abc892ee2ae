"""Messages: rows, the inbox poll, claims, reads, threads, and the queue of
pool:/policy: messages (the /api/messages summaries). Where a message goes and who may
claim it is decided in domain/messages.py and domain/addresses.py."""
from collections import Counter
from functools import lru_cache

from . import JsonArray, Record, dumps, loads, placeholders, policies, where

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
# (key, expression on the inbox's row `m`, form): 'json' embeds a JSON text column,
# 'bool' a 0/1 flag. The dialect spells the object (dialects/: json_objects).
MESSAGE_JSON = [
    ("id", "m.id", ""), ("from", "m.from_agent", ""), ("to", "m.to_addr", ""),
    ("kind", "m.kind", ""), ("subject", "m.subject", ""), ("body", "m.body", ""),
    ("payload", "m.payload", "json"), ("meta", "m.meta", "json"), ("channel", "m.channel", ""),
    ("replyTo", "m.reply_to", ""), ("threadId", "coalesce(m.thread_id, m.id)", ""),
    ("claimable", "m.claimable", "bool"), ("claimTtlSeconds", "m.claim_ttl_seconds", ""),
    ("claimedBy", "m.claimed_by", ""), ("claimedAt", "m.claimed_at", ""),
    ("claimExpiresAt", "m.claim_expires_at", ""), ("idempotencyKey", "m.idempotency_key", ""),
    ("readBy", "m.read_by", "json"), ("deliveryStatus", "m.delivery_status", ""),
    ("resolvedToAgent", "m.resolved_to", ""), ("expiresAt", "m.expires_at", ""),
    ("createdAt", "m.created_at", "")]
# A message that asks for an ack says so (to_dict() adds the same keys).
ACK_JSON = MESSAGE_JSON + [("ackRequired", "1", "bool"), ("ackBy", "m.ack_by", ""),
                           ("maxDeliveries", "m.max_deliveries", ""),
                           ("escalateTo", "m.escalate_to", "")]
# A message shown again because its ack is late (only messages asking for one are).
SHOWN_AGAIN_JSON = ACK_JSON + [("redelivered", "1", "bool")]


def in_id_order(rows) -> list[dict]:
    # RETURNING gives rows in no promised order; callers emit events in id order.
    return sorted(map(to_dict, rows), key=lambda m: m["id"])


# The SET clause that gives a claim back, whoever asks (holder, reaper, deletion).
UNCLAIM = "claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL"


def get(conn, message_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    return to_dict(row) if row else None


# --- sending -------------------------------------------------------------

_NAMED = {"direct": "agents WHERE id = ?", "pool": "pools WHERE name = ?",
          "orchestrator": "orchestrators WHERE id = ?"}


def address_exists(conn, kind: str, name: str) -> bool:
    """Whether what an address (split: domain/addresses.py) names exists; a group
    address always does."""
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
# Integer columns are cast: a NULL selected without a type is text to PostgreSQL.
_INTEGERS = {"reply_to", "thread_id", "claimable", "claim_ttl_seconds", "expires_at", "created_at",
             "ack_required", "ack_by", "max_deliveries"}
_INSERT = (f"INSERT INTO messages ({', '.join(_COLUMNS)}) SELECT "
           + ",".join("CAST(? AS BIGINT)" if c in _INTEGERS else "?" for c in _COLUMNS)
           + " WHERE ? IS NULL OR EXISTS (SELECT 1 FROM agents WHERE id = ?)")

# Messages per kind (schema.sql: message_counts), changed by the store function that
# inserts or deletes messages, right after it, in its transaction. One upsert, spelt
# the same on both engines: a kind's first message makes its row.
COUNT_KIND = ("INSERT INTO message_counts (kind, n) VALUES (?, ?) "
              "ON CONFLICT (kind) DO UPDATE SET n = message_counts.n + excluded.n")


def count_kinds(conn, kinds: list[str], step: int) -> None:
    """COUNT_KIND for a batch: `step` (-1 for a delete) for each of `kinds`.
    Kinds in sorted order: concurrent writers take the rows' locks in one order."""
    conn.executemany(COUNT_KIND, [(kind, step * n) for kind, n in sorted(Counter(kinds).items())])


def thread_of(conn, message_id: int) -> int | None:
    """The thread a reply to `message_id` joins; None when there is no such message."""
    row = conn.execute("SELECT id, thread_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    return (row["thread_id"] or row["id"]) if row else None


def insert(conn, m: dict, thread_id: int | None, status: str, resolved_to: str | None,
           expires_at: int | None, now: int, direct: str | None) -> dict | None:
    """Store a message (validated fields, API names, ack options filled in) as
    resolved; None when `direct` (a direct address's agent) does not exist, and
    nothing is written."""
    row = dict(zip(_COLUMNS, (
        m["from"], m["to"], m.get("kind") or "chat", m.get("subject"), m["body"],
        dumps(m.get("payload") or {}), dumps(m.get("meta") or {}), m.get("channel"),
        m.get("replyTo"), thread_id, int(bool(m.get("claimable"))),
        m.get("claimTtlSeconds") or 300, m.get("idempotencyKey"), status, resolved_to,
        expires_at, now, int(bool(m.get("ackRequired"))), m.get("ackBy"), m.get("maxDeliveries"),
        m.get("escalateTo"))))
    # One statement: the direct target's existence is checked by the INSERT itself,
    # and the stored row is known without reading it back. Under the messages' append
    # lock, so ids commit in order (dialects/postgres.py).
    dialect = conn.dialect
    dialect.ordered(conn)
    inserted = conn.execute(_INSERT + dialect.RETURNING_ID, (*row.values(), direct, direct))
    if inserted.rowcount == 0:
        return None
    conn.execute(COUNT_KIND, (row["kind"], 1))
    return to_dict({**row, "id": dialect.inserted_id(inserted), "read_by": "[]", "claimed_by": None,
                    "claimed_at": None, "claim_expires_at": None})


# --- reading -------------------------------------------------------------

def inbox(conn, agent_id: str, addrs: list[str], now: int, *, since: int = 0,
          unread: bool = False, kind: str | None = None, channel: str | None = None,
          ack_pending: bool = False, limit: int = 100) -> tuple[JsonArray, list[int]]:
    """What the agent reads: addressed to it (`addrs`, every address that reaches
    it: groups are matched at read time), not its own, not claimed by someone
    else; ascending from `since`. The answer's JSON text, and the ids of the
    messages in it that ask for an ack (found only when there are some:
    ordinary answers are not parsed).

    Messages redelivered to the agent (README "Acknowledgements and receipts")
    come first, even below `since`, with `redelivered: true` (the `again`
    rows; ids above `since` are flagged in place): their ids are at most
    `since` and the others' above it, so the answer stays in id order. With
    no redelivery pending, that costs one seek into an empty partial index;
    per message, a test of ack_required.

    The database writes the whole answer in one statement (SQLite's
    json_object per message, json_group_array over them; on PostgreSQL the
    same text by concatenation and string_agg: dialects/), because row by row,
    each row is one sqlite3_step that gives up the GIL and must win it back,
    and a dict to build and encode: for 50 messages that took 310 us of
    the poll's 680 in process, and under 16 concurrent polls it doubled the
    server's CPU per poll (1.17 ms against 0.65 now, 27 futex calls a poll
    against 15). The subquery's order is the order SQLite feeds the
    aggregate (3.44's ORDER BY inside the aggregate would say so; this
    SQLite is 3.40); tests check the order.
    """
    me = agent_id
    common_args = [me, now, *(v for v in (kind, channel) if v)]
    sql, again_sql = _inbox_sql(conn.dialect, len(addrs), bool(kind), bool(channel), unread,
                                ack_pending)
    args = [me, me, since, *addrs, me, since, me, *common_args, *([me] if unread else []),
            *([me] if ack_pending else [])]
    row = conn.execute(sql, [*args, limit, me, since]).fetchone()
    if not row:
        return JsonArray("[]", 0), []
    count, text, pending = row
    if pending:
        again, shown = conn.execute(again_sql, (me, since, *common_args, limit)).fetchone()
        if again and count > limit - again:
            count, text, _ = conn.execute(sql, [*args, limit - again, me, since]).fetchone() \
                if limit > again else (0, "[]", 1)
        if again:
            text = shown[:-1] + ("," + text[1:] if count else "]")
            count += again
    # Only a message asking for an ack has this key (a string value would have its quotes
    # escaped), so an ordinary answer is never parsed here.
    asking = []
    if '"ackRequired"' in text:
        asking = [m["id"] for m in loads(text) if m.get("ackRequired") is True]
    return JsonArray(text, count), asking


@lru_cache(maxsize=256)
def _inbox_sql(dialect, addr_count: int, kind: bool, channel: bool, unread: bool,
               ack_pending: bool) -> tuple[str, str]:
    """inbox()'s two statements for one shape of poll, written once: spelling
    three JSON objects of 22 fields each was a tenth of a poll's time in Python."""
    common = ["AND NOT (claimed_by IS NOT NULL AND claimed_by != ? AND claim_expires_at > ?)"]
    if kind:
        common.append("AND kind = ?")
    if channel:
        common.append("AND channel = ?")
    common = " ".join(common)
    fresh = []
    if unread:
        fresh.append(f"AND NOT {dialect.json_has('messages.read_by')}")
    if ack_pending:
        fresh.append("AND ack_required = 1 AND EXISTS (SELECT 1 FROM receipts WHERE message_id = "
                     "messages.id AND agent_id = ? AND owed = 1 AND state != 'acked')")
    fresh = " ".join(fresh)
    objects, joins = dialect.json_objects("m", {"plain": MESSAGE_JSON, "ack": ACK_JSON,
                                                "again": SHOWN_AGAIN_JSON})
    flagged = (f"CASE WHEN m.ack_required = 0 THEN {objects['plain']} "
               f"WHEN EXISTS (SELECT 1 FROM receipts WHERE message_id = m.id AND agent_id = ? "
               f"AND redelivered = 1) THEN {objects['again']} ELSE {objects['ack']} END")
    again_object, again_joins = dialect.json_objects("m", {"again": SHOWN_AGAIN_JSON})
    # `pending`: a redelivery at or below `since` waits for the agent (a seek into a
    # partial index that is empty but for late acks). HAVING: an empty inbox is no
    # row, so one sqlite3_step (each gives up the GIL) answers the commonest poll.
    # (Spelled twice: PostgreSQL's HAVING cannot name a column of the SELECT.)
    pending = ("EXISTS (SELECT 1 FROM receipts WHERE agent_id = ? AND redelivered = 1"
               " AND message_id <= ?)")
    sql = f"""SELECT count(*), {dialect.json_array(flagged, "m.id")}, {pending} AS pending
                FROM (SELECT * FROM messages
                       WHERE (to_addr IN ({placeholders(range(addr_count))}) OR resolved_to = ?)
                         AND id > ? AND from_agent != ? {common} {fresh}
                       ORDER BY id LIMIT ?) AS m{joins}
              HAVING count(*) > 0 OR {pending}"""
    again = f"""SELECT count(*), {dialect.json_array(again_object["again"], "m.id")}
                  FROM (SELECT * FROM messages
                         WHERE id IN (SELECT message_id FROM receipts
                                       WHERE agent_id = ? AND redelivered = 1 AND message_id <= ?)
                           {common} ORDER BY id LIMIT ?) AS m{again_joins}"""
    return sql, again


def readable(addrs: list[str], agent_id: str, now: int) -> tuple[str, list]:
    """A condition on messages `m`: what the agent's inbox shows (claims by others
    hidden), or what it sent (the search's `for`, on either engine)."""
    return (f"((m.to_addr IN ({placeholders(addrs)}) OR m.resolved_to = ?)"
            " AND NOT (m.claimed_by IS NOT NULL AND m.claimed_by != ?"
            " AND m.claim_expires_at > ?) OR m.from_agent = ?)",
            [*addrs, agent_id, agent_id, now, agent_id])


# A message someone still owes an ack for (overdue included).
AWAITING_ACK = ("ack_required = 1 AND EXISTS (SELECT 1 FROM receipts WHERE message_id = "
                "messages.id AND owed = 1 AND state != 'acked')")


def first_claim_end(conn, since: int, now: int) -> float:
    """When the first live claim on a message after `since` ends (infinity
    when none is live): until then, what claims hide from an inbox stays
    hidden. Through messages_claims: as many rows as claims are live."""
    row = conn.execute("SELECT min(claim_expires_at) FROM messages WHERE claimed_by IS NOT NULL"
                       " AND claim_expires_at > ? AND id > ?", (now, since)).fetchone()
    return float("inf") if row[0] is None else row[0]


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

def claim(conn, message_id: int, agent_id: str, ttl_seconds: int | None,
          now: int) -> dict | None:
    """The claimed message, or None when this agent may not hold it now."""
    row = conn.execute(
        """UPDATE messages
              SET claimed_at = CASE WHEN claimed_by = :agent THEN claimed_at ELSE :now END,
                  claimed_by = :agent,
                  claim_expires_at = :now + 1000 * coalesce(:ttl, claim_ttl_seconds)
            WHERE id = :id AND claimable = 1 AND delivery_status = 'delivered'
              AND (claimed_by IS NULL OR claimed_by = :agent OR claim_expires_at <= :now)
        RETURNING *""",
        {"agent": agent_id, "now": now, "ttl": ttl_seconds, "id": message_id}).fetchone()
    return to_dict(row) if row else None


def release(conn, message_id: int, agent_id: str) -> dict | None:
    """The released message, or None when `agent_id` does not hold it."""
    row = conn.execute(
        f"""UPDATE messages SET {UNCLAIM}
            WHERE id = ? AND claimed_by = ? RETURNING *""", (message_id, agent_id)).fetchone()
    return to_dict(row) if row else None


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
        f"""UPDATE messages SET read_by = {conn.dialect.json_append('read_by')}
             WHERE id IN ({placeholders(message_ids)})
               AND NOT {conn.dialect.json_has('messages.read_by')}
         RETURNING *""", (agent_id, *message_ids, agent_id))
    return in_id_order(rows)


def existing_ids(conn, message_ids: list[int]) -> set[int]:
    rows = conn.execute(f"SELECT id FROM messages WHERE id IN ({placeholders(message_ids)})",
                        message_ids)
    return {r["id"] for r in rows}


def delete(conn, message_id: int) -> dict | None:
    row = conn.execute("DELETE FROM messages WHERE id = ? RETURNING *", (message_id,)).fetchone()
    if row is None:
        return None
    conn.execute(COUNT_KIND, (row["kind"], -1))
    return to_dict(row)


# --- queued delivery ---------------------------------------------

def resolve_queued(conn, address: str, agent_id: str, now: int) -> list[dict]:
    """Deliver every unexpired message queued for `address` to `agent_id`, in send order."""
    rows = conn.execute(
        """UPDATE messages SET delivery_status = 'delivered', resolved_to = ?
            WHERE delivery_status = 'queued' AND to_addr = ? AND expires_at > ?
        RETURNING *""", (agent_id, address, now))
    return in_id_order(rows)


def deliver_queued(conn, message_id: int, agent_id: str) -> dict | None:
    """One queued message to `agent_id`; None when it is no longer queued."""
    row = conn.execute(
        "UPDATE messages SET delivery_status = 'delivered', resolved_to = ? "
        "WHERE id = ? AND delivery_status = 'queued' RETURNING *",
        (agent_id, message_id)).fetchone()
    return to_dict(row) if row else None


def expire_queued(conn, now: int) -> list[dict]:
    rows = conn.execute(
        """UPDATE messages SET delivery_status = 'expired'
            WHERE delivery_status = 'queued' AND expires_at <= ? RETURNING *""", (now,))
    return in_id_order(rows)


# --- counts ---------------------------------------------------------------------

def counts_by_kind(conn) -> dict:
    """Exact, and as many rows read as there are kinds (stats); a kind whose
    messages are all deleted keeps its row at 0 and is left out."""
    return {r["kind"]: r["n"] for r in
            conn.execute("SELECT kind, n FROM message_counts WHERE n > 0 ORDER BY kind")}


def queued_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM messages WHERE delivery_status = 'queued'").fetchone()[0]
