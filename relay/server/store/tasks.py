"""Tasks: closed-loop work items, their history, claims and status moves.

Every claim and move is one conditional UPDATE; the row count says who won.
A move that changes the status of a task with a callbackUrl writes its
callback delivery in the same transaction (store/deliveries.py).
"""
from . import Record, deliveries, dumps, loads, placeholders, where

OPEN = ("open", "claimed", "in_progress", "blocked")
FINAL = ("resolved", "failed", "cancelled")
_OPEN_SQL = ",".join(f"'{s}'" for s in OPEN)
DEFAULT_CLAIM_TTL = 300
# Releasing a claim, whoever asks: claimed and in_progress go back to open.
_RELEASE = """status = CASE WHEN status IN ('claimed', 'in_progress') THEN 'open' ELSE status END,
              claimed_by = NULL, claim_expires_at = NULL, updated_at = :now"""


def to_dict(row) -> Record:
    return Record({
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "severity": row["severity"],
        "status": row["status"],
        "source": row["source"],
        "dedupeKey": row["dedupe_key"],
        "target": row["target"],
        "claimedBy": row["claimed_by"],
        "claimExpiresAt": row["claim_expires_at"],
        "callbackUrl": row["callback_url"],
        "payload": loads(row["payload"], {}),
        "meta": loads(row["meta"], {}),
        "result": loads(row["result"]),
        "occurrences": row["occurrences"],
        "integration": row["integration"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "resolvedAt": row["resolved_at"],
    })


def event_dict(row) -> dict:
    return {"id": row["id"], "taskId": row["task_id"], "type": row["type"],
            "status": row["status"], "note": row["note"], "agentId": row["agent_id"],
            "progress": row["progress"], "createdAt": row["created_at"]}


def get(conn, task_id: int) -> Record | None:
    row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return to_dict(row) if row else None


def history(conn, task_id: int) -> list[dict]:
    rows = conn.execute("SELECT * FROM task_events WHERE task_id = ? ORDER BY id", (task_id,))
    return [event_dict(r) for r in rows]


def add_event(conn, task: dict, type_: str, now: int, *, note=None, agent_id=None,
              progress=None) -> dict:
    row = conn.execute(
        """INSERT INTO task_events (task_id, type, status, note, agent_id, progress, created_at)
           VALUES (?,?,?,?,?,?,?) RETURNING *""",
        (task["id"], type_, task["status"], note, agent_id, progress, now)).fetchone()
    return event_dict(row)


def _moved(conn, task: dict, before: str | None, type_: str, now: int,
           **event) -> tuple[dict, dict]:
    """Record a change in the history; a new status owes a callback."""
    entry = add_event(conn, task, type_, now, **event)
    if task["status"] != before:
        deliveries.enqueue(conn, task, now)
    return task, entry


# --- opening ---------------------------------------------------------------------

_COLUMNS = ("title", "body", "severity", "source", "dedupe_key", "target", "callback_url",
            "payload", "meta", "integration", "created_at", "updated_at")


def create(conn, t: dict, integration: str | None, now: int) -> tuple[dict, dict, bool]:
    """Open a task, or fold a duplicate into the live task with its dedupeKey.

    Returns (task, history entry, created)."""
    if t.get("dedupeKey") is not None:
        row = conn.execute(
            f"""UPDATE tasks SET occurrences = occurrences + 1, updated_at = ?
                 WHERE dedupe_key = ? AND status IN ({_OPEN_SQL}) RETURNING *""",
            (now, t["dedupeKey"])).fetchone()
        if row:
            task = to_dict(row)
            return task, add_event(conn, task, "duplicate", now, note=t["title"]), False
    row = conn.execute(
        f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({placeholders(_COLUMNS)}) RETURNING *",
        (t["title"], t.get("body"), t.get("severity") or "medium", t.get("source"),
         t.get("dedupeKey"), t.get("target"), t.get("callbackUrl"),
         dumps(t.get("payload") or {}), dumps(t.get("meta") or {}), integration, now,
         now)).fetchone()
    task = to_dict(row)
    return task, add_event(conn, task, "created", now), True


# --- reading ---------------------------------------------------------------------

def listing(conn, *, statuses=None, target=None, claimed_by=None, source=None, severity=None,
            before=None, limit=100) -> list[dict]:
    """Newest first."""
    clause, args = where((f"status IN ({placeholders(statuses or [])})", *(statuses or [None])),
                         ("target = ?", target), ("claimed_by = ?", claimed_by),
                         ("source = ?", source), ("severity = ?", severity), ("id < ?", before))
    rows = conn.execute(f"SELECT * FROM tasks{clause} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]


# --- claims ------------------------------------------------------------------------

def claim(conn, before: dict, agent_id: str, ttl_seconds: int | None, now: int):
    """Exactly one caller wins a task that nobody holds; the holder re-claiming
    extends its claim. Returns (task, history entry), or None when not won."""
    task_id = before["id"]
    row = conn.execute(
        f"""UPDATE tasks
               SET status = CASE WHEN claimed_by = :agent AND claim_expires_at > :now
                                 THEN status ELSE 'claimed' END,
                   claimed_by = :agent, claim_expires_at = :now + 1000 * :ttl, updated_at = :now
             WHERE id = :id AND status IN ({_OPEN_SQL})
               AND (claimed_by IS NULL OR claimed_by = :agent OR claim_expires_at <= :now)
         RETURNING *""",
        {"agent": agent_id, "now": now, "ttl": ttl_seconds or DEFAULT_CLAIM_TTL,
         "id": task_id}).fetchone()
    if row is None:
        return None
    return _moved(conn, to_dict(row), before["status"], "claimed", now, agent_id=agent_id)


def release(conn, before: dict, agent_id: str, now: int):
    """The holder gives `before` back: (task, history entry), or None when it does not hold it."""
    task_id = before["id"]
    row = conn.execute(
        f"""UPDATE tasks SET {_RELEASE}
             WHERE id = :id AND claimed_by = :agent AND status IN ({_OPEN_SQL}) RETURNING *""",
        {"now": now, "id": task_id, "agent": agent_id}).fetchone()
    if row is None:
        return None
    return _moved(conn, to_dict(row), before["status"], "released", now, agent_id=agent_id)


def _release_where(conn, where: str, args: dict, type_: str, now: int) -> list[tuple[dict, dict]]:
    rows = conn.execute(
        f"""UPDATE tasks SET {_RELEASE}
             WHERE claimed_by IS NOT NULL AND status IN ({_OPEN_SQL}) AND {where}
         RETURNING *""", {"now": now, **args}).fetchall()
    # A released task is open only if it was claimed or in_progress (a blocked
    # one stays blocked): open now means its status changed.
    return [_moved(conn, task, None if task["status"] == "open" else task["status"], type_, now)
            for task in sorted(map(to_dict, rows), key=lambda t: t["id"])]


def release_expired_claims(conn, now: int):
    return _release_where(conn, "claim_expires_at <= :now", {}, "claim_expired", now)


def release_orphaned(conn, now: int):
    """Tasks held by agents that went offline (or are gone)."""
    return _release_where(
        conn, "claimed_by NOT IN (SELECT id FROM agents WHERE status != 'offline')", {},
        "orphaned", now)


def release_claims_of(conn, agent_id: str, now: int):
    return _release_where(conn, "claimed_by = :agent", {"agent": agent_id}, "released", now)


# --- status moves ----------------------------------------------------------------

def move(conn, before: dict, status: str, now: int, *, agent_id=None, note=None,
         result=None):
    """Move `before` (checked by domain/tasks.py) to `status`. Moving to open
    gives the claim back; a final status stamps resolvedAt and ends the claim's
    clock. (task, history entry), or None when it became final meanwhile."""
    task_id = before["id"]
    row = conn.execute(
        f"""UPDATE tasks
               SET status = :status, updated_at = :now,
                   result = coalesce(:result, result),
                   resolved_at = CASE WHEN :final = 1 THEN :now ELSE resolved_at END,
                   claimed_by = CASE WHEN :status = 'open' THEN NULL ELSE claimed_by END,
                   claim_expires_at = CASE WHEN :status = 'open' OR :final = 1 THEN NULL
                                           ELSE claim_expires_at END
             WHERE id = :id AND status IN ({_OPEN_SQL}) RETURNING *""",
        {"status": status, "now": now, "result": dumps(result) if result is not None else None,
         "final": status in FINAL, "id": task_id}).fetchone()
    if row is None:
        return None
    return _moved(conn, to_dict(row), before["status"], "status", now, note=note,
                  agent_id=agent_id)


def progress(conn, task_id: int, note: str, agent_id: str | None, value: int | None, now: int):
    row = conn.execute("UPDATE tasks SET updated_at = ? WHERE id = ? RETURNING *",
                       (now, task_id)).fetchone()
    if row is None:
        return None
    task = to_dict(row)
    return task, add_event(conn, task, "progress", now, note=note, agent_id=agent_id,
                           progress=value)


def delete(conn, task_id: int) -> dict | None:
    row = conn.execute("DELETE FROM tasks WHERE id = ? RETURNING *", (task_id,)).fetchone()
    return to_dict(row) if row else None
