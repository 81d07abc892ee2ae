"""Automations and their runs.

An interval automation's next run is claimed with one conditional UPDATE on
its next_run_at, so a run is made once however many ticks look at it.
"""
import secrets

from . import dumps, loads

RUNS_KEPT = 200


def to_dict(row) -> dict:
    return {"id": row["id"], "name": row["name"], "enabled": bool(row["enabled"]),
            "trigger": loads(row["trigger"], {}), "action": loads(row["action"], {}),
            "nextRunAt": row["next_run_at"], "createdAt": row["created_at"],
            "updatedAt": row["updated_at"]}


def run_to_dict(row) -> dict:
    return {"id": row["id"], "automationId": row["automation_id"], "trigger": row["trigger"],
            "eventId": row["event_id"], "depth": row["depth"], "status": row["status"],
            "result": loads(row["result"]), "error": row["error"],
            "startedAt": row["started_at"], "finishedAt": row["finished_at"]}


def next_run(trigger: dict, enabled: bool, now: int) -> int | None:
    every = trigger.get("everySeconds")
    return now + every * 1000 if every and enabled else None


def create(conn, fields: dict, now: int) -> dict | None:
    """None when the id is taken."""
    row = conn.execute(
        """INSERT INTO automations (id, name, enabled, trigger, action, next_run_at, created_at,
               updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO NOTHING RETURNING *""",
        (fields.get("id") or "auto_" + secrets.token_hex(8), fields["name"],
         int(fields["enabled"]), dumps(fields["trigger"]), dumps(fields["action"]),
         next_run(fields["trigger"], fields["enabled"], now), now, now)).fetchone()
    return to_dict(row) if row else None


def get(conn, automation_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM automations WHERE id = ?", (automation_id,)).fetchone()
    return to_dict(row) if row else None


def listing(conn, enabled_only: bool = False) -> list[dict]:
    sql = "SELECT * FROM automations" + (" WHERE enabled = 1" if enabled_only else "")
    return [to_dict(r) for r in conn.execute(sql + " ORDER BY seq")]


def update(conn, automation_id: str, changes: dict, now: int) -> dict | None:
    """Apply a PATCH; the interval clock starts again when the trigger or enabled changes."""
    current = get(conn, automation_id)
    if current is None:
        return None
    merged = {**current, **changes}
    due = current["nextRunAt"]
    if {"trigger", "enabled"} & set(changes):
        due = next_run(merged["trigger"], merged["enabled"], now)
    row = conn.execute(
        """UPDATE automations SET name = ?, enabled = ?, trigger = ?, action = ?, next_run_at = ?,
               updated_at = ? WHERE id = ? RETURNING *""",
        (merged["name"], int(merged["enabled"]), dumps(merged["trigger"]),
         dumps(merged["action"]), due, now, automation_id)).fetchone()
    return to_dict(row)


def delete(conn, automation_id: str) -> bool:
    conn.execute("DELETE FROM automation_runs WHERE automation_id = ?", (automation_id,))
    return conn.execute("DELETE FROM automations WHERE id = ?", (automation_id,)).rowcount > 0


def claim_interval(conn, automation_id: str, due: int, now: int, every_ms: int) -> bool:
    """Take the run due at `due`; the next is a full period from now (no burst of
    catch-up runs after a pause)."""
    return conn.execute("UPDATE automations SET next_run_at = ? WHERE id = ? AND enabled = 1 "
                        "AND next_run_at = ?", (now + every_ms, automation_id, due)).rowcount > 0


def add_run(conn, run: dict) -> dict:
    row = conn.execute(
        """INSERT INTO automation_runs (automation_id, trigger, event_id, depth, status, result,
               error, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (run["automationId"], run["trigger"], run["eventId"], run["depth"], run["status"],
         None if run["result"] is None else dumps(run["result"]), run["error"],
         run["startedAt"], run["finishedAt"])).fetchone()
    conn.execute("DELETE FROM automation_runs WHERE automation_id = ? AND id < (SELECT id FROM "
                 "automation_runs WHERE automation_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                 (run["automationId"], run["automationId"], RUNS_KEPT - 1))
    return run_to_dict(row)


def runs(conn, automation_id: str, limit: int = 100) -> list[dict]:
    return [run_to_dict(r) for r in conn.execute(
        "SELECT * FROM automation_runs WHERE automation_id = ? ORDER BY id DESC LIMIT ?",
        (automation_id, limit))]
