"""Retention (README "Configuration", retention): what each growing table forgets, one bounded
batch at a time, and cheap figures for health.

Each delete takes at most `limit` rows, oldest first, so one transaction
never holds the write lock for long; the reaper calls it again while it
keeps finding rows (store functions never loop over commits themselves).
"""
from . import messages as message_rows

FINAL_TASKS = ("resolved", "failed", "cancelled")
FINAL_COMMANDS = ("succeeded", "failed", "cancelled", "expired")

# table -> the column that says when a row was made (health's oldest row).
TABLES = {"messages": "created_at", "activity": "created_at", "tasks": "created_at",
          "task_events": "created_at", "commands": "created_at",
          "config_history": "updated_at", "channel_events": "created_at", "events": "time",
          "callback_deliveries": "created_at", "automation_runs": "started_at"}


def _batch(conn, table: str, where: str, params: tuple, limit: int, returning: str = ""):
    key = conn.dialect.row_key(table)      # SQLite's rowid; PostgreSQL's id or ctid
    return conn.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {where} "
        f"ORDER BY {key} LIMIT ?){returning}", (*params, limit))


def _delete(conn, table: str, where: str, params: tuple, limit: int) -> int:
    return _batch(conn, table, where, params, limit).rowcount


def messages(conn, older_than: int, now: int, limit: int) -> int:
    """Messages made before `older_than` that are settled: not queued, not
    under a live claim, and not waiting for an ack that is not yet overdue
    (those are kept until they are). Their kinds' counts go down with them."""
    kinds = [row[0] for row in _batch(
        conn, "messages", "created_at < ? AND delivery_status != 'queued' AND "
        "(claimed_by IS NULL OR claim_expires_at <= ?) AND (ack_required = 0 OR "
        "NOT EXISTS (SELECT 1 FROM receipts WHERE message_id = messages.id AND "
        "due_at IS NOT NULL))", (older_than, now), limit, " RETURNING kind")]
    message_rows.count_kinds(conn, kinds, -1)
    return len(kinds)


def channel_events(conn, older_than: int, limit: int) -> int:
    """An inbound event's idempotency record lives as long as its messages."""
    return _delete(conn, "channel_events", "created_at < ?", (older_than,), limit)


def activity(conn, older_than: int, limit: int) -> int:
    return _delete(conn, "activity", "created_at < ?", (older_than,), limit)


def automation_runs(conn, older_than: int, limit: int) -> int:
    return _delete(conn, "automation_runs", "finished_at < ?", (older_than,), limit)


def tasks(conn, older_than: int, limit: int) -> int:
    """Final tasks last changed before `older_than`; their history goes with
    them (task_events cascade). Owed callbacks stay until sent."""
    marks = ",".join("?" * len(FINAL_TASKS))
    return _delete(conn, "tasks", f"status IN ({marks}) AND updated_at < ?",
                   (*FINAL_TASKS, older_than), limit)


def commands(conn, older_than: int, limit: int) -> int:
    marks = ",".join("?" * len(FINAL_COMMANDS))
    return _delete(conn, "commands", f"status IN ({marks}) AND updated_at < ?",
                   (*FINAL_COMMANDS, older_than), limit)


def config_history(conn, keep: int, limit: int) -> int:
    """All but the last `keep` versions of each key (versions grow by one per
    set or delete, so those are the versions at least `keep` below current)."""
    key = conn.dialect.row_key("config_history")
    return conn.execute(
        f"""DELETE FROM config_history WHERE {key} IN (
               SELECT h.{key} FROM config_history AS h JOIN config_entries AS e
                   ON e.namespace = h.namespace AND e.key = h.key
                WHERE h.version <= e.version - ? LIMIT ?)""", (keep, limit)).rowcount


def figures(conn, now: int) -> dict:
    """Per table: rows (an estimate from the row ids: newest minus oldest plus
    one, so rows deleted in between still count) and the oldest row's age in
    seconds. Two index look-ups per table, whatever its size."""
    out = {}
    for table, made in TABLES.items():
        rows, oldest = conn.dialect.table_figures(conn, table, made)
        out[table] = {"rows": rows,
                      "oldestAgeSeconds": max(0, (now - oldest) // 1000) if oldest else None}
    return out


def maintain(conn, pages: int) -> int:
    """Analyse what changed (PRAGMA optimize) and give back up to `pages` free
    pages (incremental auto-vacuum, migration 6); answers the pages left free.
    Its own write, outside any transaction: executescript steps each pragma to
    the end (execute() would free one page per call)."""
    return conn.dialect.maintain(conn, pages)
