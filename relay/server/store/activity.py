"""The activity feed."""
from . import dumps, loads, where

KINDS = ("state", "message", "task", "command", "system", "note")


def to_dict(row) -> dict:
    return {
        "id": row["id"],
        "clientId": row["client_id"],
        "kind": row["kind"],
        "title": row["title"],
        "body": row["body"],
        "icon": row["icon"],
        "view": row["view"],
        "agentId": row["agent_id"],
        "meta": loads(row["meta"], {}),
        "createdAt": row["created_at"],
    }


def add(conn, entry: dict, now: int) -> tuple[dict, bool]:
    """Store an entry; a clientId already stored returns that entry. (entry, created)"""
    client_id = entry.get("clientId")
    if client_id:
        row = conn.execute("SELECT * FROM activity WHERE client_id = ?", (client_id,)).fetchone()
        if row:
            return to_dict(row), False
    row = conn.execute(
        """INSERT INTO activity (client_id, kind, title, body, icon, view, agent_id, meta, created_at)
           VALUES (?,?,?,?,?,?,?,?,?) RETURNING *""",
        (client_id, entry["kind"], entry["title"], entry.get("body"), entry.get("icon"),
         entry.get("view"), entry.get("agentId"), dumps(entry.get("meta") or {}), now)).fetchone()
    return to_dict(row), True


def listing(conn, *, kind=None, agent_id=None, before=None, limit=100) -> list[dict]:
    clause, args = where(("kind = ?", kind), ("agent_id = ?", agent_id), ("id < ?", before))
    rows = conn.execute(f"SELECT * FROM activity{clause} ORDER BY id DESC LIMIT ?", (*args, limit))
    return [to_dict(r) for r in rows]
