"""Spawn policies (config namespace `spawn-policy`) and their managed-agent state.

Each state change is one statement on the policy's row; the lifecycle
manager and the routes call these inside their change, so a read of the
row and the write that follows it cannot interleave with another writer.
"""
from . import config, dumps, loads

NAMESPACE = "spawn-policy"
DEFAULT_QUEUE_AGE = 86400      # seconds a queued pool:/policy: message waits by default
DAY_MS = 86_400_000


def get(conn, name: str) -> dict | None:
    entry = config.get(conn, NAMESPACE, name)
    return entry["value"] if entry else None


def listing(conn) -> list[dict]:
    return [entry["value"] for entry in config.listing(conn, NAMESPACE)]


def queue_max_age(policy: dict) -> int:
    queue = policy.get("queue") or {}
    return int(queue.get("maxAgeSeconds") or DEFAULT_QUEUE_AGE)


def active_on(conn, orchestrator_id: str) -> list[dict]:
    """The states of policies starting or running on that orchestrator, by name."""
    rows = conn.execute("SELECT * FROM managed_agents WHERE orchestrator_id = ? AND status IN "
                        "('starting', 'running') ORDER BY policy_name", (orchestrator_id,))
    return [state_to_dict(r) for r in rows]


def running_agent(conn, name: str) -> str | None:
    row = conn.execute("SELECT agent_id FROM managed_agents WHERE policy_name = ? "
                       "AND status = 'running'", (name,)).fetchone()
    return row["agent_id"] if row else None


def state_to_dict(row) -> dict:
    return {
        "policyName": row["policy_name"], "status": row["status"], "agentId": row["agent_id"],
        "orchestratorId": row["orchestrator_id"], "provider": row["provider"],
        "tmuxSession": row["tmux_session"], "spawnRequestId": row["spawn_request_id"],
        "lastSpawnAt": row["last_spawn_at"], "lastStopAt": row["last_stop_at"],
        "healthySince": row["healthy_since"], "restartCount": row["restart_count"],
        "restartsToday": row["restarts_today"], "consecutiveFailures": row["consecutive_failures"],
        "nextAttemptAt": row["next_attempt_at"], "lastError": row["last_error"],
        "updatedAt": row["updated_at"],
    }


def never_started(policy: dict) -> dict:
    """The state of a policy that has none yet: stopped."""
    return {"policyName": policy["name"], "status": "stopped", "agentId": None,
            "orchestratorId": policy.get("orchestratorId"), "provider": policy.get("provider"),
            "tmuxSession": None, "spawnRequestId": None, "lastSpawnAt": None, "lastStopAt": None,
            "healthySince": None, "restartCount": 0, "restartsToday": 0,
            "consecutiveFailures": 0, "nextAttemptAt": None, "lastError": None, "updatedAt": 0}


def state(conn, name: str) -> dict | None:
    row = _row(conn, name)
    return state_to_dict(row) if row else None


def _row(conn, name: str):
    return conn.execute("SELECT * FROM managed_agents WHERE policy_name = ?", (name,)).fetchone()


def _set(conn, name: str, now: int, **columns) -> dict | None:
    sets = ", ".join(f"{c} = ?" for c in columns)
    row = conn.execute(f"UPDATE managed_agents SET {sets}, updated_at = ? WHERE policy_name = ? "
                       "RETURNING *", (*columns.values(), now, name)).fetchone()
    return state_to_dict(row) if row else None


def starts_within_day(conn, name: str, now: int) -> int:
    row = _row(conn, name)
    return len(_recent(row, now)) if row else 0


def _recent(row, now: int) -> list[int]:
    return [t for t in loads(row["recent_starts"], []) if t > now - DAY_MS]


def set_starting(conn, name: str, spawn_request_id: str, now: int, orchestrator_id=None,
                 provider=None, restart: bool = False) -> dict:
    """A spawn (or restart) was requested: counted against restart.maxPerDay."""
    ensure(conn, name, now)
    row = _row(conn, name)
    starts = _recent(row, now) + [now]
    again = row["last_spawn_at"] is not None
    columns = dict(status="starting", spawn_request_id=spawn_request_id, last_spawn_at=now,
                   healthy_since=None, next_attempt_at=None, recent_starts=dumps(starts),
                   restarts_today=len(starts), restart_count=row["restart_count"] + int(again),
                   orchestrator_id=orchestrator_id or row["orchestrator_id"],
                   provider=provider or row["provider"])
    if not restart:
        columns.update(agent_id=None, tmux_session=None)
    return _set(conn, name, now, **columns)


def mark_running(conn, name: str, spawn_request_id: str, agent_id: str, now: int) -> dict | None:
    """The spawned agent registered: the state runs with it, if the request ids match and
    it is not running with this agent already (a re-registration changes nothing)."""
    row = conn.execute(
        """UPDATE managed_agents SET status = 'running', agent_id = ?, healthy_since = ?,
               last_error = NULL, next_attempt_at = NULL, last_activity_at = ?, updated_at = ?
           WHERE policy_name = ? AND spawn_request_id = ?
             AND (status IN ('starting', 'backoff')
                  OR (status = 'running' AND (agent_id IS NULL OR agent_id <> ?)))
           RETURNING *""",
        (agent_id, now, now, now, name, spawn_request_id, agent_id)).fetchone()
    return state_to_dict(row) if row else None


def note_activity(conn, agent_id: str, now: int) -> None:
    """A message resolved to or was read by a managed agent (idle-stop clock)."""
    conn.execute("UPDATE managed_agents SET last_activity_at = ? WHERE agent_id = ? "
                 "AND status = 'running'", (now, agent_id))


def last_activity(conn, name: str) -> int | None:
    row = _row(conn, name)
    return row["last_activity_at"] if row else None


def ensure(conn, name: str, now: int) -> None:
    """A state row for the policy (stopped) if it has none yet."""
    conn.execute("INSERT INTO managed_agents (policy_name, updated_at) VALUES (?, ?) "
                 "ON CONFLICT (policy_name) DO NOTHING", (name, now))


def set_stopping(conn, name: str, now: int) -> dict | None:
    return _set(conn, name, now, status="stopping", last_stop_at=now)


def mark_stopped(conn, name: str, now: int, error: str | None = None) -> dict | None:
    return _set(conn, name, now, status="stopped", healthy_since=None, next_attempt_at=None,
                last_error=error)


def fail(conn, name: str, policy: dict, error: str, now: int) -> dict | None:
    """A failed start or a dead agent: backoff, doubling per consecutive failure up to
    maxBackoffSeconds; `failed` once restart.maxPerDay starts were made within 24 h, or
    for a manual policy (nothing would retry it)."""
    row = _row(conn, name)
    if row is None:
        return None
    rules = policy.get("restart") or {}
    failures = row["consecutive_failures"] + 1
    wait = min(rules.get("backoffSeconds", 5) * 2 ** (failures - 1),
               rules.get("maxBackoffSeconds", 300))
    capped = len(_recent(row, now)) >= rules.get("maxPerDay", 10)
    if capped or policy.get("mode") == "manual":
        return _set(conn, name, now, status="failed", consecutive_failures=failures,
                    next_attempt_at=None, healthy_since=None, last_error=error)
    return _set(conn, name, now, status="backoff", consecutive_failures=failures,
                next_attempt_at=now + int(wait * 1000), healthy_since=None, last_error=error)


def reset_failures(conn, name: str, now: int) -> dict | None:
    return _set(conn, name, now, consecutive_failures=0)


def note_error(conn, name: str, error: str, now: int) -> dict:
    """Why a policy cannot start now (its orchestrator is not online, ...)."""
    row = conn.execute(
        """INSERT INTO managed_agents (policy_name, status, last_error, updated_at)
           VALUES (?, 'stopped', ?, ?)
           ON CONFLICT (policy_name) DO UPDATE SET last_error = excluded.last_error,
               updated_at = excluded.updated_at RETURNING *""", (name, error, now)).fetchone()
    return state_to_dict(row)


def set_tmux(conn, name: str, tmux_session: str, now: int) -> dict | None:
    return _set(conn, name, now, tmux_session=tmux_session)


def delete_state(conn, name: str) -> None:
    conn.execute("DELETE FROM managed_agents WHERE policy_name = ?", (name,))


def counts_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM managed_agents GROUP BY status")}


def give_up(conn, name: str, error: str, now: int) -> dict | None:
    """The daily cap is reached: `failed` until a manual start."""
    return _set(conn, name, now, status="failed", next_attempt_at=None, last_error=error)


def has_queued(conn, name: str, now: int) -> bool:
    """Whether unexpired messages wait for the policy's agent (on-demand start)."""
    return conn.execute("SELECT 1 FROM messages WHERE delivery_status = 'queued' AND to_addr = ? "
                        "AND expires_at > ? LIMIT 1", ("policy:" + name, now)).fetchone() is not None
