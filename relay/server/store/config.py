"""The versioned config store: namespace/key -> JSON value, with history.

A deleted key keeps its row (value NULL) so its version keeps counting; a
key never written is version 0. Callers run inside the write transaction,
so reading the version and writing the next one cannot interleave.
"""
from . import dumps, loads


def to_dict(row) -> dict:
    return {"namespace": row["namespace"], "key": row["key"], "value": loads(row["value"]),
            "version": row["version"], "updatedBy": row["updated_by"], "updatedAt": row["updated_at"]}


def get(conn, namespace: str, key: str) -> dict | None:
    row = conn.execute("SELECT * FROM config_entries WHERE namespace = ? AND key = ? "
                       "AND value IS NOT NULL", (namespace, key)).fetchone()
    return to_dict(row) if row else None


def listing(conn, namespace: str) -> list[dict]:
    rows = conn.execute("SELECT * FROM config_entries WHERE namespace = ? AND value IS NOT NULL "
                        "ORDER BY key", (namespace,))
    return [to_dict(r) for r in rows]


def version(conn, namespace: str, key: str) -> int:
    """The key's current version: its last set or delete, 0 when never written."""
    row = conn.execute("SELECT version FROM config_entries WHERE namespace = ? AND key = ?",
                       (namespace, key)).fetchone()
    return row["version"] if row else 0


def put(conn, namespace: str, key: str, value, now: int, updated_by: str | None = None) -> tuple[dict, bool]:
    """Set a value; versions only grow, also across a delete. (entry, created)"""
    before = conn.execute("SELECT value IS NULL AS deleted FROM config_entries "
                          "WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
    row = conn.execute(
        """INSERT INTO config_entries (namespace, key, value, version, updated_by, updated_at)
           VALUES (?, ?, ?, 1, ?, ?)
           ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
               version = config_entries.version + 1, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at
           RETURNING *""",
        (namespace, key, dumps(value), updated_by, now)).fetchone()
    _record(conn, row, "set")
    return to_dict(row), before is None or bool(before["deleted"])


def delete(conn, namespace: str, key: str, now: int, updated_by: str | None = None) -> dict | None:
    """Delete a present key; the answer is its entry as it was, with the delete's version."""
    row = conn.execute(
        """UPDATE config_entries SET value = NULL, version = version + 1, updated_by = ?,
               updated_at = ?
            WHERE namespace = ? AND key = ? AND value IS NOT NULL RETURNING *""",
        (updated_by, now, namespace, key)).fetchone()
    if row is None:
        return None
    _record(conn, row, "delete")
    return to_dict(row)


def _record(conn, row, action: str) -> None:
    conn.execute("INSERT INTO config_history (namespace, key, version, value, action, updated_by, "
                 "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (row["namespace"], row["key"], row["version"], row["value"], action,
                  row["updated_by"], row["updated_at"]))


def history(conn, namespace: str, key: str, limit: int = 100) -> list[dict]:
    rows = conn.execute("SELECT * FROM config_history WHERE namespace = ? AND key = ? "
                        "ORDER BY version DESC LIMIT ?", (namespace, key, limit))
    return [{"version": r["version"], "value": loads(r["value"]), "action": r["action"],
             "updatedBy": r["updated_by"], "updatedAt": r["updated_at"]} for r in rows]
