"""The command bus (API.md §9): what the relay asks orchestrators to do.

Every status change is one conditional UPDATE whose WHERE names the states
it may leave, so of many concurrent PATCHes exactly one moves a command out
of each state.
"""
import uuid

from . import dumps, loads, where

FINAL = ("succeeded", "failed", "cancelled", "expired")
# status -> the states a PATCH may move a command into from it. A fast
# orchestrator may skip ahead (pending -> running or succeeded); nothing goes back.
NEXT = {
    "pending": ("accepted", "running", "succeeded", "failed", "cancelled"),
    "accepted": ("running", "succeeded", "failed", "cancelled"),
    "running": ("succeeded", "failed"),
}
PATCHABLE = ("accepted", "running", "succeeded", "failed", "cancelled")
DEFAULT_TTL = 600


def to_dict(row) -> dict:
    return {
        "id": row["id"], "type": row["type"], "source": row["source"], "target": row["target"],
        "correlationId": row["correlation_id"], "params": loads(row["params"], {}),
        "status": row["status"], "result": loads(row["result"]), "error": row["error"],
        "createdAt": row["created_at"], "updatedAt": row["updated_at"],
        "expiresAt": row["expires_at"],
    }


def create(conn, c: dict, now: int) -> dict:
    ttl = c.get("ttlSeconds") or DEFAULT_TTL
    row = conn.execute(
        """INSERT INTO commands (id, type, source, target, correlation_id, params, status,
               created_at, updated_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING *""",
        ("cmd_" + uuid.uuid4().hex, c["type"], c.get("source") or "system", c["target"],
         c.get("correlationId"), dumps(c.get("params") or {}), now, now,
         now + 1000 * ttl)).fetchone()
    return to_dict(row)


def get(conn, command_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM commands WHERE id = ?", (command_id,)).fetchone()
    return to_dict(row) if row else None


def listing(conn, *, target=None, status=None, type_=None, correlation_id=None,
            newest_first=False, limit=100) -> list[dict]:
    clause, args = where(("target = ?", target), ("status = ?", status), ("type = ?", type_),
                         ("correlation_id = ?", correlation_id))
    order = "seq DESC" if newest_first else "seq"
    rows = conn.execute(f"SELECT * FROM commands{clause} ORDER BY {order} LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]


def move(conn, command_id: str, status: str, result, error, now: int) -> tuple[dict | None, dict | None]:
    """Move to `status` if the current state allows it. (moved, current): moved is
    None when another transition won or the state does not allow it."""
    sources = [state for state, targets in NEXT.items() if status in targets]
    row = conn.execute(
        f"""UPDATE commands SET status = ?, result = coalesce(?, result),
                error = coalesce(?, error), updated_at = ?
            WHERE id = ? AND status IN ({",".join("?" * len(sources))}) RETURNING *""",
        (status, None if result is None else dumps(result), error, now, command_id,
         *sources)).fetchone()
    if row:
        return to_dict(row), None
    return None, get(conn, command_id)


def delete(conn, command_id: str) -> bool:
    return conn.execute("DELETE FROM commands WHERE id = ?", (command_id,)).rowcount > 0


def expire(conn, now: int) -> list[dict]:
    rows = conn.execute(
        """UPDATE commands SET status = 'expired', error = 'expired before it was accepted',
               updated_at = ?
            WHERE status = 'pending' AND expires_at <= ? RETURNING *""", (now, now))
    return [to_dict(r) for r in sorted(rows, key=lambda r: r["seq"])]


def count_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM commands GROUP BY status")}
