"""Callback deliveries: owed in the transaction that changes a task's status,
sent later by the callback worker (callbacks.py), which records each try."""
import hashlib
import hmac

from . import dumps

EVENT = "task.updated"


def to_dict(row) -> dict:
    return {"id": row["id"], "taskId": row["task_id"], "event": row["event"], "url": row["url"],
            "status": row["status"], "attempts": row["attempts"],
            "nextAttemptAt": row["next_attempt_at"] if row["status"] == "pending" else None,
            "lastError": row["last_error"], "responseStatus": row["response_status"],
            "createdAt": row["created_at"], "deliveredAt": row["delivered_at"]}


def sign(secret: str, body: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def enqueue(conn, task: dict, now: int) -> None:
    """Owe the task's callback (if it has one) its new state. The body is fixed
    now, so a retry sends the same bytes under the same signature."""
    if not task["callbackUrl"]:
        return
    body = dumps({"event": EVENT, "task": task})
    secret = None
    if task["integration"]:
        row = conn.execute("SELECT secret FROM integrations WHERE name = ?",
                           (task["integration"],)).fetchone()
        secret = row["secret"] if row else None
    conn.execute(
        """INSERT INTO callback_deliveries (task_id, event, url, body, signature,
               next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?)""",
        (task["id"], EVENT, task["callbackUrl"], body, sign(secret, body) if secret else None,
         now, now))


def for_task(conn, task_id: int) -> list[dict]:
    rows = conn.execute("SELECT * FROM callback_deliveries WHERE task_id = ? ORDER BY id",
                        (task_id,))
    return [to_dict(r) for r in rows]


def due(conn, now: int, busy_tasks, limit: int = 50) -> list:
    """Pending deliveries whose time has come, each the oldest pending one of
    its task (a task's callbacks go out in order), skipping tasks in flight."""
    rows = conn.execute(
        """SELECT * FROM callback_deliveries AS d
            WHERE status = 'pending' AND next_attempt_at <= ?
              AND NOT EXISTS (SELECT 1 FROM callback_deliveries AS e WHERE e.task_id = d.task_id
                              AND e.status = 'pending' AND e.id < d.id)
            ORDER BY id LIMIT ?""", (now, limit + len(busy_tasks))).fetchall()
    return [r for r in rows if r["task_id"] not in busy_tasks][:limit]


def record(conn, delivery_id: int, *, status: str, attempts: int, next_attempt_at: int,
           error: str | None, response_status: int | None, delivered_at: int | None) -> None:
    conn.execute(
        """UPDATE callback_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
               last_error = ?, response_status = ?, delivered_at = ? WHERE id = ?""",
        (status, attempts, next_attempt_at, error, response_status, delivered_at, delivery_id))


def trim(conn, older_than: int) -> int:
    """Forget finished deliveries made before `older_than`; pending ones stay."""
    return conn.execute("DELETE FROM callback_deliveries WHERE status != 'pending' "
                        "AND created_at < ?", (older_than,)).rowcount

