"""Orchestrators: host daemons that run agents, and their presence."""
import os

from . import dumps, loads


def to_dict(row) -> dict:
    return {
        "id": row["id"], "hostname": row["hostname"], "agentId": row["agent_id"],
        "providers": loads(row["providers"], []), "baseDir": row["base_dir"],
        "apiUrl": row["api_url"], "version": row["version"],
        "capabilities": loads(row["capabilities"], []), "status": row["status"],
        "managedAgents": loads(row["managed_agents"], []), "meta": loads(row["meta"], {}),
        "lastHeartbeat": row["last_heartbeat"], "createdAt": row["created_at"],
    }


def get(conn, orchestrator_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM orchestrators WHERE id = ?", (orchestrator_id,)).fetchone()
    return to_dict(row) if row else None


def api_token(conn, orchestrator_id: str) -> str | None:
    """The secret the orchestrator registered for proxied requests (write-only)."""
    row = conn.execute("SELECT api_token FROM orchestrators WHERE id = ?",
                       (orchestrator_id,)).fetchone()
    return row["api_token"] if row else None


def listing(conn) -> list[dict]:
    return [to_dict(r) for r in conn.execute("SELECT * FROM orchestrators ORDER BY id")]


# apiToken is written here and read only by api_token(): to_dict() never shows it.
_PLAIN = {"hostname": "hostname", "agentId": "agent_id", "baseDir": "base_dir",
          "apiUrl": "api_url", "apiToken": "api_token", "version": "version"}
_JSON = {"providers": "providers", "capabilities": "capabilities", "meta": "meta"}


def upsert(conn, orchestrator_id: str, fields: dict, now: int) -> tuple[dict, bool]:
    """Register or update; fields left out keep their value; it is online again.
    Returns (orchestrator, created)."""
    values = {"id": orchestrator_id, "status": "online", "last_heartbeat": now, "created_at": now,
              "agent_id": fields.get("agentId") or f"orchestrator-{orchestrator_id}"}
    values.update({column: fields[f] for f, column in _PLAIN.items() if fields.get(f) is not None})
    values.update({column: dumps(fields[f]) for f, column in _JSON.items()
                   if fields.get(f) is not None})
    updates = [c for c in values if c not in ("id", "created_at")]
    existed = get(conn, orchestrator_id) is not None
    row = conn.execute(
        f"""INSERT INTO orchestrators ({", ".join(values)}) VALUES ({",".join("?" * len(values))})
            ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in updates)}
            RETURNING *""", tuple(values.values())).fetchone()
    return to_dict(row), not existed


def heartbeat(conn, orchestrator_id: str, now: int) -> tuple[dict | None, bool]:
    """Refresh; a stale or offline orchestrator is online again. (orchestrator, status changed)"""
    before = conn.execute("SELECT status FROM orchestrators WHERE id = ?",
                          (orchestrator_id,)).fetchone()
    if before is None:
        return None, False
    row = conn.execute("UPDATE orchestrators SET status = 'online', last_heartbeat = ? "
                       "WHERE id = ? RETURNING *", (now, orchestrator_id)).fetchone()
    return to_dict(row), before["status"] != "online"


def set_roster(conn, orchestrator_id: str, roster: list[dict]) -> dict | None:
    row = conn.execute("UPDATE orchestrators SET managed_agents = ? WHERE id = ? RETURNING *",
                       (dumps(roster), orchestrator_id)).fetchone()
    return to_dict(row) if row else None


def delete(conn, orchestrator_id: str) -> dict | None:
    row = conn.execute("DELETE FROM orchestrators WHERE id = ? RETURNING *",
                       (orchestrator_id,)).fetchone()
    return to_dict(row) if row else None


def mark_stale(conn, now: int, stale_after_ms: int) -> list[dict]:
    rows = conn.execute("UPDATE orchestrators SET status = 'stale' WHERE status = 'online' "
                        "AND last_heartbeat < ? RETURNING *", (now - stale_after_ms,))
    return sorted((to_dict(r) for r in rows), key=lambda o: o["id"])


def mark_offline(conn, now: int, offline_after_ms: int) -> list[dict]:
    rows = conn.execute("UPDATE orchestrators SET status = 'offline' WHERE status != 'offline' "
                        "AND last_heartbeat < ? RETURNING *", (now - offline_after_ms,))
    return sorted((to_dict(r) for r in rows), key=lambda o: o["id"])


def counts_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM orchestrators GROUP BY status")}


def managing(conn, agent: dict) -> dict | None:
    """The orchestrator that manages an agent: the one its meta.orchestratorId names."""
    orchestrator_id = (agent.get("meta") or {}).get("orchestratorId")
    return get(conn, orchestrator_id) if isinstance(orchestrator_id, str) else None


def within_base(path: str, base_dir: str) -> str | None:
    """`path` resolved (symlinks, `..`; relative to base_dir) if it lies inside
    base_dir resolved, else None. Resolved paths compared by component, never
    by string prefix: /srv/app-evil is not inside /srv/app."""
    try:
        base = os.path.realpath(base_dir)
        target = os.path.realpath(os.path.join(base, path))
    except ValueError:             # a NUL byte (a row from before paths were checked)
        return None
    return target if os.path.commonpath([base, target]) == base else None
