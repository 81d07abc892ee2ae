"""Spawn policies (config namespace `spawn-policy`) and their managed-agent state."""
from . import config

NAMESPACE = "spawn-policy"
DEFAULT_QUEUE_AGE = 86400      # seconds a queued pool:/policy: message waits by default


def get(conn, name: str) -> dict | None:
    entry = config.get(conn, NAMESPACE, name)
    return entry["value"] if entry else None


def queue_max_age(policy: dict) -> int:
    queue = policy.get("queue") or {}
    return int(queue.get("maxAgeSeconds") or DEFAULT_QUEUE_AGE)


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


def set_starting(conn, name: str, spawn_request_id: str, now: int) -> dict:
    """Record that a spawn was requested (the lifecycle manager's start)."""
    row = conn.execute(
        """INSERT INTO managed_agents (policy_name, status, spawn_request_id, last_spawn_at, updated_at)
           VALUES (?, 'starting', ?, ?, ?)
           ON CONFLICT (policy_name) DO UPDATE SET status = 'starting',
               spawn_request_id = excluded.spawn_request_id,
               last_spawn_at = excluded.last_spawn_at, updated_at = excluded.updated_at
           RETURNING *""", (name, spawn_request_id, now, now)).fetchone()
    return state_to_dict(row)


def mark_running(conn, name: str, spawn_request_id: str, agent_id: str, now: int) -> dict | None:
    """The spawned agent registered: the state runs with it, if the request ids match."""
    row = conn.execute(
        """UPDATE managed_agents SET status = 'running', agent_id = ?, healthy_since = ?,
               last_error = NULL, last_activity_at = ?, updated_at = ?
           WHERE policy_name = ? AND spawn_request_id = ? RETURNING *""",
        (agent_id, now, now, now, name, spawn_request_id)).fetchone()
    return state_to_dict(row) if row else None


def note_activity(conn, agent_id: str, now: int) -> None:
    """A message resolved to or was read by a managed agent (idle-stop clock)."""
    conn.execute("UPDATE managed_agents SET last_activity_at = ? WHERE agent_id = ? "
                 "AND status = 'running'", (now, agent_id))
