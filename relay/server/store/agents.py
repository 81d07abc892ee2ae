"""Agents: registration, presence, and the reaper's presence steps."""
import secrets

from . import dumps, loads, where

LIVE_STATUSES = ("online", "idle", "busy")
NEVER_PRUNED = ("orchestrator", "user")


def to_dict(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "label": row["label"],
        "tags": loads(row["tags"], []),
        "capabilities": loads(row["capabilities"], []),
        "machine": row["machine"],
        "rig": row["rig"],
        "cwd": row["cwd"],
        "status": row["status"],
        "ready": bool(row["ready"]),
        "instanceId": row["instance_id"],
        "epoch": row["epoch"],
        "meta": loads(row["meta"], {}),
        "lastSeen": row["last_seen"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def get(conn, agent_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return to_dict(row) if row else None


# register fields that map one-to-one onto a column
_PLAIN = {"name": "name", "kind": "kind", "label": "label", "machine": "machine",
          "rig": "rig", "cwd": "cwd", "status": "status"}
_JSON = {"tags": "tags", "capabilities": "capabilities", "meta": "meta"}


def upsert(conn, agent_id: str, fields: dict, now: int) -> tuple[dict, bool]:
    """Register `agent_id`, or update it with the fields given.

    A new instanceId means a new process took the id over: epoch + 1.
    Returns (agent, created).
    """
    existing = get(conn, agent_id)
    status = fields.get("status") or "online"
    if existing is None:
        conn.execute(
            """INSERT INTO agents (id, name, kind, label, tags, capabilities, machine, rig, cwd,
                   status, ready, instance_id, epoch, meta, last_seen, created_at, updated_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?,?)""",
            (agent_id, fields.get("name") or agent_id, fields.get("kind") or "provider",
             fields.get("label"), dumps(fields.get("tags") or []),
             dumps(fields.get("capabilities") or []), fields.get("machine"), fields.get("rig"),
             fields.get("cwd"), status, int(fields.get("ready", True)),
             fields.get("instanceId") or secrets.token_hex(8), dumps(fields.get("meta") or {}),
             now, now, now))
        return get(conn, agent_id), True

    sets = {"status": status, "last_seen": now, "updated_at": now}
    for field, column in _PLAIN.items():
        if fields.get(field) is not None:
            sets[column] = fields[field]
    for field, column in _JSON.items():
        if fields.get(field) is not None:
            sets[column] = dumps(fields[field])
    if fields.get("ready") is not None:
        sets["ready"] = int(fields["ready"])
    instance_id = fields.get("instanceId")
    if instance_id and instance_id != existing["instanceId"]:
        sets["instance_id"] = instance_id
        sets["epoch"] = existing["epoch"] + 1
    _update(conn, agent_id, sets)
    return get(conn, agent_id), False


def _update(conn, agent_id: str, sets: dict) -> None:
    assignments = ", ".join(f"{column} = ?" for column in sets)
    conn.execute(f"UPDATE agents SET {assignments} WHERE id = ?", (*sets.values(), agent_id))


def session_matches(agent: dict, instance_id: str | None, epoch: int | None) -> bool:
    """The session guard: a given instanceId/epoch must be the registered one."""
    if instance_id is not None and instance_id != agent["instanceId"]:
        return False
    return epoch is None or epoch == agent["epoch"]


def patch(conn, agent_id: str, changes: dict, now: int) -> dict:
    """Apply a PATCH; `meta` merges into the stored meta."""
    agent = get(conn, agent_id)
    sets = {"last_seen": now, "updated_at": now}
    for field in ("status", "label"):
        if field in changes:
            sets[field] = changes[field]
    if "ready" in changes:
        sets["ready"] = int(changes["ready"])
    for field in ("tags", "capabilities"):
        if field in changes:
            sets[field] = dumps(changes[field])
    if "meta" in changes:
        sets["meta"] = dumps({**agent["meta"], **changes["meta"]})
    _update(conn, agent_id, sets)
    return get(conn, agent_id)


def touch(conn, agent_id: str, now: int, status: str | None = None) -> tuple[dict | None, bool]:
    """Presence: refresh lastSeen; a stale or offline agent is back online.

    Returns (agent or None when unknown, whether its status changed).
    """
    if status is None:
        # The common case, one statement: a live agent stays as it is.
        row = conn.execute(
            "UPDATE agents SET last_seen = ? WHERE id = ? AND status NOT IN ('stale', 'offline') "
            "RETURNING *", (now, agent_id)).fetchone()
        if row:
            return to_dict(row), False
    before = conn.execute("SELECT status FROM agents WHERE id = ?", (agent_id,)).fetchone()
    if before is None:
        return None, False
    new_status = status or "online"
    row = conn.execute(
        "UPDATE agents SET last_seen = ?, status = ?, updated_at = "
        "CASE WHEN status = ? THEN updated_at ELSE ? END WHERE id = ? RETURNING *",
        (now, new_status, new_status, now, agent_id)).fetchone()
    return to_dict(row), new_status != before["status"]


def delete(conn, agent_id: str) -> bool:
    return conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,)).rowcount == 1


def listing(conn, *, status=None, kind=None, tag=None, capability=None, label=None,
            include_offline=True) -> list[dict]:
    clause, args = where(
        ("status = ?", status), ("kind = ?", kind), ("label = ?", label),
        (conn.dialect.json_has("agents.tags"), tag),
        (conn.dialect.json_has("agents.capabilities"), capability),
        ("status != ?", None if include_offline else "offline"))
    return [to_dict(r) for r in conn.execute(f"SELECT * FROM agents{clause} ORDER BY id", args)]


# --- the reaper's presence steps: each one conditional UPDATE/DELETE ... RETURNING

def mark_stale(conn, now: int, stale_after_ms: int) -> list[dict]:
    rows = conn.execute(
        f"""UPDATE agents SET status = 'stale', updated_at = ?
            WHERE status IN ({",".join("?" * len(LIVE_STATUSES))}) AND last_seen < ?
            RETURNING *""",
        (now, *LIVE_STATUSES, now - stale_after_ms)).fetchall()
    return [to_dict(r) for r in rows]


def mark_offline(conn, now: int, offline_after_ms: int) -> list[dict]:
    rows = conn.execute(
        "UPDATE agents SET status = 'offline', updated_at = ? "
        "WHERE status != 'offline' AND last_seen < ? RETURNING *",
        (now, now - offline_after_ms)).fetchall()
    return [to_dict(r) for r in rows]


def prune(conn, now: int, prune_after_ms: int) -> list[str]:
    rows = conn.execute(
        f"""DELETE FROM agents WHERE status = 'offline' AND last_seen < ?
            AND kind NOT IN ({",".join("?" * len(NEVER_PRUNED))}) RETURNING id""",
        (now - prune_after_ms, *NEVER_PRUNED)).fetchall()
    return [r["id"] for r in rows]


def counts_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM agents GROUP BY status")}
