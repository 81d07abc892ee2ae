"""The versioned config store (API.md §9): namespace/key -> JSON value, with history."""
from . import dumps, loads


def to_dict(row) -> dict:
    return {"namespace": row["namespace"], "key": row["key"], "value": loads(row["value"]),
            "version": row["version"], "updatedBy": row["updated_by"], "updatedAt": row["updated_at"]}


def get(conn, namespace: str, key: str) -> dict | None:
    row = conn.execute("SELECT * FROM config_entries WHERE namespace = ? AND key = ? "
                       "AND value IS NOT NULL", (namespace, key)).fetchone()
    return to_dict(row) if row else None


def put(conn, namespace: str, key: str, value, now: int, updated_by: str | None = None) -> tuple[dict, bool]:
    """Set a value; versions only grow, also across a delete. (entry, created)"""
    before = conn.execute("SELECT value IS NULL AS deleted FROM config_entries "
                          "WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
    row = conn.execute(
        """INSERT INTO config_entries (namespace, key, value, version, updated_by, updated_at)
           VALUES (?, ?, ?, 1, ?, ?)
           ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
               version = version + 1, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at
           RETURNING *""",
        (namespace, key, dumps(value), updated_by, now)).fetchone()
    conn.execute("INSERT INTO config_history (namespace, key, version, value, action, updated_by, "
                 "updated_at) VALUES (?, ?, ?, ?, 'set', ?, ?)",
                 (namespace, key, row["version"], row["value"], updated_by, now))
    return to_dict(row), before is None or bool(before["deleted"])
