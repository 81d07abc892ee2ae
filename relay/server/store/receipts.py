"""Receipts: where each recipient of a message sent with ackRequired stands.

Plain data access. Each move is one conditional statement (an UPDATE ...
WHERE <the state it moves from>, or an upsert), so two callers never both
move the same receipt. No statement here touches a message that does not
ask for an acknowledgement: ordinary messages have no receipts.
"""
from . import placeholders, where

STATES = ("queued", "delivered", "read", "acked", "overdue")
OPEN = "state NOT IN ('acked', 'overdue')"
# A delivery counted as at least the first (a deadline may pass before any poll).
COUNTED = "CASE WHEN delivery_count < 1 THEN 1 ELSE delivery_count END"
WINDOW = "(SELECT ack_by - created_at FROM messages WHERE messages.id = receipts.message_id)"


def to_dict(row) -> dict:
    return {"messageId": row["message_id"], "agentId": row["agent_id"], "state": row["state"],
            "owed": bool(row["owed"]), "deliveredAt": row["delivered_at"],
            "seenAt": row["seen_at"], "readAt": row["read_at"], "ackedAt": row["acked_at"],
            "ackedBy": row["acked_by"], "note": row["note"],
            "deliveryCount": row["delivery_count"], "dueAt": row["due_at"],
            "redelivered": bool(row["redelivered"])}


def _sorted(rows) -> list[dict]:
    return sorted(map(to_dict, rows), key=lambda r: (r["messageId"], r["agentId"]))


# Agents a group address reaches, matched now (the recipients owed at send time).
_REACHED = {
    "broadcast": (lambda dialect: "1 = 1", False),
    "label": (lambda dialect: "label = ?", True),
    "tag": (lambda dialect: dialect.json_has("agents.tags"), True),
    "cap": (lambda dialect: dialect.json_has("agents.capabilities"), True),
    "direct": (lambda dialect: "id = ?", True),
}


def open_for_address(conn, message: dict, kind: str, name: str) -> None:
    """Owe receipts for every agent the message's address reaches now (not the sender)."""
    spell, named = _REACHED[kind]
    condition = spell(conn.dialect)        # the engine spells JSON membership (dialects/)
    conn.execute(
        f"""INSERT INTO receipts (message_id, agent_id, due_at)
            SELECT ?, id, ? FROM agents WHERE {condition} AND id != ?""",
        (message["id"], message["ackBy"], *((name,) if named else ()), message["from"]))


def open_for_agent(conn, message: dict, agent_id: str) -> None:
    """A pool:/policy:/orchestrator: message reached this agent: it owes the ack."""
    if agent_id != message["from"]:
        conn.execute("INSERT INTO receipts (message_id, agent_id, due_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (message_id, agent_id) DO NOTHING",
                     (message["id"], agent_id, message["ackBy"]))


def get(conn, message_id: int, agent_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM receipts WHERE message_id = ? AND agent_id = ?",
                       (message_id, agent_id)).fetchone()
    return to_dict(row) if row else None


def of_message(conn, message_id: int) -> list[dict]:
    rows = conn.execute("SELECT * FROM receipts WHERE message_id = ? ORDER BY agent_id",
                        (message_id,))
    return [to_dict(r) for r in rows]


def of_messages(conn, message_ids: list[int]) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    if message_ids:
        rows = conn.execute(f"SELECT * FROM receipts WHERE message_id IN "
                            f"({placeholders(message_ids)}) ORDER BY message_id, agent_id",
                            message_ids)
        for r in rows:
            found.setdefault(r["message_id"], []).append(to_dict(r))
    return found


# --- what a poll, a stream and a read record ------------------------------------------

def undelivered(conn, agent_id: str, message_ids: list[int]) -> list[int]:
    """Of these messages (each asking for an ack), those whose receipt for the agent an
    answer carrying them moves (see delivered()): a poll that moves none writes nothing."""
    rows = conn.execute(
        f"""SELECT id FROM messages WHERE id IN ({placeholders(message_ids)})
              AND NOT EXISTS (SELECT 1 FROM receipts WHERE message_id = messages.id
                                 AND agent_id = ? AND state != 'queued' AND redelivered = 0
                                 AND seen_at IS NOT NULL)""", (*message_ids, agent_id))
    return [r["id"] for r in rows]


def delivered(conn, agent_id: str, message_ids: list[int], now: int) -> None:
    """A poll or stream answer carried these messages to the agent: the first
    time it is delivery 1; a redelivered one is shown and no longer pending.
    A later reader of a group message gets a receipt that owes nothing."""
    _carried(conn, agent_id, message_ids, now, "delivered", "seen_at", "'queued'",
             "receipts.state = 'queued' OR receipts.redelivered = 1 OR receipts.seen_at IS NULL",
             ", redelivered = 0")


def read(conn, agent_id: str, message_ids: list[int], now: int) -> None:
    """The agent marked these read: a receipt not yet acked moves to read."""
    _carried(conn, agent_id, message_ids, now, "read", "read_at", "'queued', 'delivered'",
             "receipts.read_at IS NULL")


def _carried(conn, agent_id, message_ids, now, state, stamp, moves_from, when, more=""):
    """One upsert: the receipt moves to `state` (from `moves_from`), `stamp` is now,
    delivery 1 at least; where `when` holds (otherwise nothing is written)."""
    conn.execute(
        f"""INSERT INTO receipts (message_id, agent_id, state, owed, delivered_at, {stamp},
                                  delivery_count)
            SELECT id, ?, '{state}', 0, ?, ?, 1 FROM messages
             WHERE id IN ({placeholders(message_ids)}) AND ack_required = 1 AND from_agent != ?
            ON CONFLICT (message_id, agent_id) DO UPDATE SET
                state = CASE WHEN receipts.state IN ({moves_from}) THEN '{state}'
                             ELSE receipts.state END,
                delivered_at = coalesce(receipts.delivered_at, excluded.delivered_at),
                {stamp} = excluded.{stamp},
                delivery_count = CASE WHEN receipts.delivery_count < 1 THEN 1
                                      ELSE receipts.delivery_count END{more}
            WHERE {when}""",
        (agent_id, now, now, *message_ids, agent_id))


# --- ack, nack, progress ----------------------------------------------------------------

def ack(conn, message_id: int, agent_id: str, note: str | None, now: int) -> dict | None:
    """Acked by this recipient (a later reader gets a receipt for it). The
    first ackedAt stays: None when it was acked already."""
    row = conn.execute(
        """INSERT INTO receipts (message_id, agent_id, state, owed, acked_at, acked_by, note,
                                 delivered_at, delivery_count)
           VALUES (?, ?, 'acked', 0, ?, ?, ?, ?, 1)
           ON CONFLICT (message_id, agent_id) DO UPDATE SET
               state = 'acked', acked_at = excluded.acked_at, acked_by = excluded.acked_by,
               note = coalesce(excluded.note, receipts.note), due_at = NULL, redelivered = 0,
               delivered_at = coalesce(receipts.delivered_at, excluded.delivered_at),
               delivery_count = CASE WHEN receipts.delivery_count < 1 THEN 1
                                     ELSE receipts.delivery_count END
           WHERE receipts.state != 'acked'
        RETURNING *""", (message_id, agent_id, now, agent_id, note, now)).fetchone()
    return to_dict(row) if row else None


def ack_all(conn, message_id: int, by: str, now: int) -> list[dict]:
    """A claimable message acked by its claimer is done for every recipient."""
    rows = conn.execute(
        """UPDATE receipts SET state = 'acked', acked_at = ?, acked_by = ?, due_at = NULL,
                  redelivered = 0
            WHERE message_id = ? AND state != 'acked' RETURNING *""", (now, by, message_id))
    return _sorted(rows)


def nack(conn, message_id: int, agent_id: str, reason: str | None, redeliver_at: int) -> dict | None:
    """Give it back: the reap cycle redelivers it (or marks it overdue) at `redeliver_at`."""
    row = conn.execute(
        f"""UPDATE receipts SET due_at = ?, note = coalesce(?, note)
             WHERE message_id = ? AND agent_id = ? AND owed = 1 AND {OPEN} RETURNING *""",
        (redeliver_at, reason, message_id, agent_id)).fetchone()
    return to_dict(row) if row else None


def progress(conn, message_id: int, agent_id: str, now: int) -> dict | None:
    """Still working: the deadline becomes now plus the message's original window."""
    row = conn.execute(
        f"""UPDATE receipts SET due_at = ? + {WINDOW}
             WHERE message_id = ? AND agent_id = ? AND owed = 1 AND {OPEN} RETURNING *""",
        (now, message_id, agent_id)).fetchone()
    return to_dict(row) if row else None


# --- the deadline (reap cycle) ------------------------------------------------------------

def mark_overdue(conn, now: int) -> list[dict]:
    """Past the deadline after the last allowed delivery: overdue."""
    rows = conn.execute(
        f"""UPDATE receipts SET state = 'overdue', due_at = NULL, redelivered = 0,
                  delivery_count = {COUNTED}
             WHERE due_at <= ? AND {OPEN}
               AND {COUNTED} >= (SELECT max_deliveries FROM messages
                                  WHERE messages.id = receipts.message_id)
         RETURNING *""", (now,))
    return _sorted(rows)


def redeliver(conn, now: int) -> list[dict]:
    """Past the deadline with deliveries left: delivered again, a new window."""
    rows = conn.execute(
        f"""UPDATE receipts SET delivery_count = {COUNTED} + 1, redelivered = 1,
                  due_at = ? + {WINDOW}
             WHERE due_at <= ? AND {OPEN} RETURNING *""", (now, now))
    return _sorted(rows)


# --- views -------------------------------------------------------------------------------

def overdue(conn, *, sender=None, to=None, agent_id=None, limit=100) -> list[tuple[dict, int]]:
    """Overdue receipts, newest message first: (receipt, message id)."""
    clause, args = where(("m.from_agent = ?", sender), ("m.to_addr = ?", to),
                         ("r.agent_id = ?", agent_id))
    filters = clause.replace(" WHERE ", " AND ", 1)
    rows = conn.execute(
        f"""SELECT r.* FROM receipts AS r JOIN messages AS m ON m.id = r.message_id
             WHERE r.state = 'overdue'{filters}
             ORDER BY r.message_id DESC, r.agent_id LIMIT ?""", (*args, limit))
    return [to_dict(r) for r in rows]
