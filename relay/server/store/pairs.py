"""Pairs: exclusive one-to-one working sessions between two agents (API.md §7).

Exclusivity and every state change are one conditional SQL statement each:
the invite inserts only where neither agent has an open pair, and an action
updates only from the state it starts from, so concurrent callers get exactly
one winner.
"""
from ..errors import ApiError, conflict, not_found
from . import agents, messages, where

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


def get_or_404(conn, pair_id: int) -> dict:
    pair = get(conn, pair_id)
    if pair is None:
        raise not_found(f"pair {pair_id} not found")
    return pair


def listing(conn, agent_id: str | None, status: str | None, limit: int) -> list[dict]:
    clause, args = where(("(from_agent = ? OR to_agent = ?)", agent_id, agent_id),
                         ("status = ?", status))
    rows = conn.execute(f"SELECT * FROM pairs{clause} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]


def _notify(conn, pair: dict, sender: str, action: str, body: str, now: int,
            extra: dict | None = None) -> dict:
    """A pair message from one member to the other."""
    to = pair["to"] if sender == pair["from"] else pair["from"]
    message, _ = messages.send(conn, {
        "from": sender, "to": to, "kind": "pair", "subject": extra and extra.get("subject"),
        "body": body, "payload": {**((extra or {}).get("payload") or {}),
                                  "pairId": pair["id"], "action": action}}, now)
    return message


def invite(conn, sender: str, to: str, topic: str | None, now: int) -> tuple[dict, dict]:
    """A pending pair and its invite message to `to`; 409 when either agent
    already has a pending (unexpired) or active pair."""
    if sender == to:
        raise ApiError(422, "to must be another agent than from: an agent cannot pair with itself")
    for agent_id in (sender, to):
        if agents.get(conn, agent_id) is None:
            raise not_found(f"agent {agent_id} not found")
    row = conn.execute(
        f"""INSERT INTO pairs (from_agent, to_agent, topic, status, created_at, updated_at,
                               expires_at)
            SELECT :from, :to, :topic, 'pending', :now, :now, :now + :ttl
             WHERE NOT EXISTS (SELECT 1 FROM pairs WHERE {OPEN}
                                 AND (from_agent IN (:from, :to) OR to_agent IN (:from, :to)))
            RETURNING *""",
        {"from": sender, "to": to, "topic": topic, "now": now, "ttl": INVITE_TTL_MS}).fetchone()
    if row is None:
        busy = conn.execute(
            f"""SELECT * FROM pairs WHERE {OPEN}
                  AND (from_agent IN (:from, :to) OR to_agent IN (:from, :to))
                ORDER BY id LIMIT 1""", {"from": sender, "to": to, "now": now}).fetchone()
        who = sender if sender in (busy["from_agent"], busy["to_agent"]) else to
        article = "an" if busy["status"] == "active" else "a"
        raise conflict(f"agent {who} already has {article} {busy['status']} pair ({busy['id']})")
    pair = to_dict(row)
    message = _notify(conn, pair, sender, "invite", topic or f"{sender} invites you to pair", now)
    conn.execute("UPDATE pairs SET invite_message_id = ? WHERE id = ?", (message["id"], pair["id"]))
    return {**pair, "inviteMessageId": message["id"]}, message


def act(conn, pair_id: int, action: str, agent_id: str, now: int) -> tuple[dict, dict]:
    """accept/decline (the invitee only) or end (either member): one conditional
    UPDATE from the state the action starts from. Returns (pair, notice message)."""
    status, sources = MOVES[action]
    who = "to_agent = :agent" if action != "end" else ":agent IN (from_agent, to_agent)"
    row = conn.execute(
        f"""UPDATE pairs SET status = :status, updated_at = :now,
                   ended_by = CASE WHEN :status = 'active' THEN NULL ELSE :agent END
             WHERE id = :id AND {who} AND status IN ({",".join(f"'{s}'" for s in sources)})
               AND (status != 'pending' OR expires_at > :now)
            RETURNING *""",
        {"status": status, "now": now, "agent": agent_id, "id": pair_id}).fetchone()
    if row is None:
        pair = get_or_404(conn, pair_id)
        if action != "end" and agent_id != pair["to"]:
            raise ApiError(403, f"only the invitee ({pair['to']}) can {action} pair {pair_id}")
        if agent_id not in (pair["from"], pair["to"]):
            raise ApiError(403, f"agent {agent_id} is not a member of pair {pair_id}")
        shown = "expired" if pair["status"] == "pending" else pair["status"]
        raise conflict(f"pair {pair_id} is {shown}: cannot {action} it")
    pair = to_dict(row)
    notice = _notify(conn, pair, agent_id, action, f"{agent_id} {DONE[action]} the pair", now)
    return pair, notice


def send(conn, pair_id: int, sender: str, fields: dict, now: int) -> dict:
    """A pair message to the other member; only while the pair is active."""
    pair = get_or_404(conn, pair_id)
    if sender not in (pair["from"], pair["to"]):
        raise ApiError(403, f"agent {sender} is not a member of pair {pair_id}")
    if pair["status"] != "active":
        raise conflict(f"pair {pair_id} is {pair['status']}, not active")
    return _notify(conn, pair, sender, "message", fields["body"], now, fields)


def expire(conn, now: int) -> list[dict]:
    rows = conn.execute("UPDATE pairs SET status = 'expired', updated_at = ? "
                        "WHERE status = 'pending' AND expires_at <= ? RETURNING *", (now, now))
    return sorted(map(to_dict, rows), key=lambda p: p["id"])
