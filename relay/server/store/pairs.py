"""Pairs: exclusive one-to-one working sessions between two agents.

Exclusivity and every state change are one conditional SQL statement each:
the invite inserts only where neither agent has an open pair, and an action
updates only from the state it starts from, so concurrent callers get exactly
one winner. Who may take which action is decided in domain/pairs.py.
"""
from . import where

INVITE_TTL_MS = 10 * 60 * 1000
OPEN = "(status = 'active' OR (status = 'pending' AND expires_at > :now))"
# action -> (status it moves to, statuses it moves from)
MOVES = {"accept": ("active", ("pending",)), "decline": ("declined", ("pending",)),
         "end": ("ended", ("pending", "active"))}
DONE = {"accept": "accepted", "decline": "declined", "end": "ended"}


def to_dict(row) -> dict:
    return {"id": row["id"], "from": row["from_agent"], "to": row["to_agent"],
            "topic": row["topic"], "status": row["status"],
            "inviteMessageId": row["invite_message_id"], "endedBy": row["ended_by"],
            "createdAt": row["created_at"], "updatedAt": row["updated_at"],
            "expiresAt": row["expires_at"]}


def get(conn, pair_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM pairs WHERE id = ?", (pair_id,)).fetchone()
    return to_dict(row) if row else None


def listing(conn, agent_id: str | None, status: str | None, limit: int) -> list[dict]:
    clause, args = where(("(from_agent = ? OR to_agent = ?)", agent_id, agent_id),
                         ("status = ?", status))
    rows = conn.execute(f"SELECT * FROM pairs{clause} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]


def invite(conn, sender: str, to: str, topic: str | None, now: int) -> dict | None:
    """A pending pair; None when either agent already has a pending (unexpired)
    or active pair (the check and the insert are one statement)."""
    row = conn.execute(
        f"""INSERT INTO pairs (from_agent, to_agent, topic, status, created_at, updated_at,
                               expires_at)
            SELECT :from, :to, :topic, 'pending', :now, :now, :now + :ttl
             WHERE NOT EXISTS (SELECT 1 FROM pairs WHERE {OPEN}
                                 AND (from_agent IN (:from, :to) OR to_agent IN (:from, :to)))
            RETURNING *""",
        {"from": sender, "to": to, "topic": topic, "now": now, "ttl": INVITE_TTL_MS}).fetchone()
    return to_dict(row) if row else None


def open_pair_of(conn, sender: str, to: str, now: int) -> dict | None:
    """The first open pair either agent has."""
    row = conn.execute(
        f"""SELECT * FROM pairs WHERE {OPEN}
              AND (from_agent IN (:from, :to) OR to_agent IN (:from, :to))
            ORDER BY id LIMIT 1""", {"from": sender, "to": to, "now": now}).fetchone()
    return to_dict(row) if row else None


def set_invite_message(conn, pair_id: int, message_id: int) -> None:
    conn.execute("UPDATE pairs SET invite_message_id = ? WHERE id = ?", (message_id, pair_id))


def act(conn, pair_id: int, action: str, agent_id: str, now: int) -> dict | None:
    """accept/decline (the invitee only) or end (either member): one conditional
    UPDATE from the state the action starts from; None when it does not apply."""
    status, sources = MOVES[action]
    who = "to_agent = :agent" if action != "end" else ":agent IN (from_agent, to_agent)"
    row = conn.execute(
        f"""UPDATE pairs SET status = :status, updated_at = :now,
                   ended_by = CASE WHEN :status = 'active' THEN NULL ELSE :agent END
             WHERE id = :id AND {who} AND status IN ({",".join(f"'{s}'" for s in sources)})
               AND (status != 'pending' OR expires_at > :now)
            RETURNING *""",
        {"status": status, "now": now, "agent": agent_id, "id": pair_id}).fetchone()
    return to_dict(row) if row else None


def expire(conn, now: int) -> list[dict]:
    rows = conn.execute("UPDATE pairs SET status = 'expired', updated_at = ? "
                        "WHERE status = 'pending' AND expires_at <= ? RETURNING *", (now, now))
    return sorted(map(to_dict, rows), key=lambda p: p["id"])
