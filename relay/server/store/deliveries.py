"""Callback deliveries: owed in the transaction that changes a task's status,
sent later by the callback worker (callbacks.py), which records each try."""
import hashlib
import hmac
from urllib.parse import urlsplit

from . import dumps, placeholders

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
               next_attempt_at, created_at, host, integration) VALUES (?,?,?,?,?,?,?,?,?)""",
        (task["id"], EVENT, task["callbackUrl"], body, sign(secret, body) if secret else None,
         now, now, host_of(task["callbackUrl"]), task["integration"]))


def for_task(conn, task_id: int) -> list[dict]:
    rows = conn.execute("SELECT * FROM callback_deliveries WHERE task_id = ? ORDER BY id",
                        (task_id,))
    return [to_dict(r) for r in rows]


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:            # the sender fails it without retries
        return url


def any_due(conn, now: int) -> bool:
    return conn.execute("SELECT 1 FROM callback_deliveries WHERE status = 'pending' "
                        "AND next_attempt_at <= ? LIMIT 1", (now,)).fetchone() is not None


def claim(conn, now: int, lease_until: int, room: int, host_room: dict[str, int],
          per_host: int, host: str | None = None) -> list:
    """Take up to `room` due deliveries for this process to send, in one
    conditional statement: each the oldest pending one of its task (a task's
    callbacks go out in order, whichever process sends them), at most
    `host_room[host]` (else `per_host`) per host, and leased by pushing
    `next_attempt_at` to `lease_until`, so no other process takes them while
    this one sends. Rows another transaction is taking are skipped, not waited
    for (the dialect's SKIP_LOCKED). The look takes `room` rows (it locks what
    it looks at: a longer one would hold rows from the other processes) and the
    host caps thin it; a host with no room is left out of it, so a receiver
    that is down, with many deliveries due, holds back the others' only until
    this process's senders for it are all taken. Answers the rows taken, oldest first, each with its lease in
    next_attempt_at (record() names the lease by it). With `host`, only
    deliveries to that host."""
    full = [host for host, left in host_room.items() if left <= 0]
    only = [] if host is None else [host]
    # An empty IN () is SQLite's alone: with no host full the condition is left out.
    hosts = ((f"AND coalesce(host, '') NOT IN ({placeholders(full)})" if full else "")
             + (" AND coalesce(host, '') = ?" if only else ""))
    caps = [(host, left) for host, left in host_room.items() if left > 0]
    cap = (f"CASE host {' '.join('WHEN ? THEN ?' for _ in caps)} ELSE ? END" if caps else "?")
    rows = conn.execute(
        f"""UPDATE callback_deliveries SET next_attempt_at = ?
            WHERE status = 'pending' AND next_attempt_at <= ? AND id IN (
              SELECT id FROM (
                SELECT id, host, row_number() OVER (PARTITION BY host ORDER BY id) AS nth
                FROM (SELECT id, coalesce(host, '') AS host FROM callback_deliveries AS d
                      WHERE status = 'pending' AND next_attempt_at <= ? {hosts}
                        AND NOT EXISTS (SELECT 1 FROM callback_deliveries AS e
                                        WHERE e.task_id = d.task_id AND e.status = 'pending'
                                          AND e.id < d.id)
                      ORDER BY id LIMIT ?{conn.dialect.SKIP_LOCKED}) AS look) AS taken
              WHERE nth <= {cap})
            RETURNING *""",
        (lease_until, now, now, *full, *only, room,
         *(value for pair in caps for value in pair), per_host)).fetchall()
    return sorted(rows, key=lambda r: r["id"])


def retry(conn, task_id: int, delivery_id: int, now: int) -> tuple[dict | None, str | None]:
    """A failed delivery pending again, due now, with a new retry window (one
    conditional UPDATE). (delivery, None), or (None, its status) when it is
    not failed, or (None, None) when the task has no such delivery."""
    row = conn.execute(
        """UPDATE callback_deliveries SET status = 'pending', next_attempt_at = ?,
               retried_at = ? WHERE id = ? AND task_id = ? AND status = 'failed'
           RETURNING *""", (now, now, delivery_id, task_id)).fetchone()
    if row is not None:
        return to_dict(row), None
    row = conn.execute("SELECT status FROM callback_deliveries WHERE id = ? AND task_id = ?",
                       (delivery_id, task_id)).fetchone()
    return None, row and row["status"]


def record(conn, delivery_id: int, leased_until: int, *, status: str, attempts: int,
           next_attempt_at: int, error: str | None, response_status: int | None,
           delivered_at: int | None) -> bool:
    """A try's outcome, if the sender still holds the lease it took the row
    with (claim()); False when the lease ended and the row was taken again."""
    return conn.execute(
        """UPDATE callback_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
               last_error = ?, response_status = ?, delivered_at = ?
           WHERE id = ? AND status = 'pending' AND next_attempt_at = ?""",
        (status, attempts, next_attempt_at, error, response_status, delivered_at, delivery_id,
         leased_until)).rowcount == 1


def trim(conn, older_than: int) -> int:
    """Forget finished deliveries made before `older_than`; pending ones stay."""
    return conn.execute("DELETE FROM callback_deliveries WHERE status != 'pending' "
                        "AND created_at < ?", (older_than,)).rowcount

