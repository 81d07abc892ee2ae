"""Recipe instances: a team started from a recipe, and each role's state.

A role moves by one conditional UPDATE naming the states it may leave, so a
late or repeated command result cannot move it twice. The instance's status
follows from its roles (status_of) and is written only when it changes.
"""
import secrets

from . import commands, dumps, loads, where


def role_to_dict(row) -> dict:
    return {"role": row["role"], "provider": row["provider"], "label": row["label"],
            "status": row["status"], "spawnRequestId": row["spawn_request_id"],
            "commandId": row["command_id"], "agentId": row["agent_id"],
            "tmuxSession": row["tmux_session"], "error": row["error"],
            "updatedAt": row["updated_at"]}


def to_dict(row, roles: list[dict]) -> dict:
    return {"id": row["id"], "recipe": row["recipe"], "orchestratorId": row["orchestrator_id"],
            "cwd": row["cwd"], "vars": loads(row["vars"], {}), "status": row["status"],
            "roles": roles, "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def new_ids(count: int) -> tuple[str, list[str]]:
    """An instance id and a spawn request id per role."""
    return "ri_" + secrets.token_hex(12), ["rs_" + secrets.token_hex(16) for _ in range(count)]


def create(conn, instance_id: str, recipe: str, orchestrator_id: str, cwd, vars_: dict,
           roles: list[dict], now: int) -> None:
    """roles: [{role, provider, label, spawnRequestId, commandId}], all starting."""
    conn.execute("INSERT INTO recipe_instances (id, recipe, orchestrator_id, cwd, vars, status, "
                 "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'starting', ?, ?)",
                 (instance_id, recipe, orchestrator_id, cwd, dumps(vars_), now, now))
    conn.executemany(
        "INSERT INTO recipe_roles (instance_id, position, role, provider, label, status, "
        "spawn_request_id, command_id, updated_at) VALUES (?, ?, ?, ?, ?, 'starting', ?, ?, ?)",
        [(instance_id, i, r["role"], r["provider"], r["label"], r["spawnRequestId"],
          r["commandId"], now) for i, r in enumerate(roles)])


def get(conn, instance_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM recipe_instances WHERE id = ?", (instance_id,)).fetchone()
    return to_dict(row, roles_of(conn, instance_id)) if row else None


def roles_of(conn, instance_id: str) -> list[dict]:
    return [role_to_dict(r) for r in conn.execute(
        "SELECT * FROM recipe_roles WHERE instance_id = ? ORDER BY position", (instance_id,))]


def listing(conn, recipe=None, status=None, limit: int = 100) -> list[dict]:
    clause, args = where(("recipe = ?", recipe), ("status = ?", status))
    rows = conn.execute(f"SELECT * FROM recipe_instances{clause} ORDER BY seq DESC LIMIT ?",
                        (*args, limit)).fetchall()
    return [to_dict(r, roles_of(conn, r["id"])) for r in rows]


def move_role(conn, spawn_request_id: str, sources: tuple, status: str, now: int,
              **columns) -> dict | None:
    """Move the role of a spawn request from one of `sources` to `status`; its
    instance id when it moved, else None."""
    sets = "".join(f", {c} = coalesce(?, {c})" for c in columns)
    row = conn.execute(
        f"""UPDATE recipe_roles SET status = ?, updated_at = ?{sets}
             WHERE spawn_request_id = ? AND status IN ({",".join("?" * len(sources))})
             RETURNING instance_id""",
        (status, now, *columns.values(), spawn_request_id, *sources)).fetchone()
    return row["instance_id"] if row else None


def set_agent(conn, spawn_request_id: str, agent_id: str, now: int) -> str | None:
    """A running role learns its agent's id (it registered after the spawn succeeded)."""
    row = conn.execute("UPDATE recipe_roles SET agent_id = ?, updated_at = ? "
                       "WHERE spawn_request_id = ? AND status = 'running' AND agent_id IS NOT ? "
                       "RETURNING instance_id", (agent_id, now, spawn_request_id, agent_id)).fetchone()
    return row["instance_id"] if row else None


def stop_roles(conn, instance_id: str, now: int) -> list[dict]:
    """Mark the instance's starting and running roles stopping; answers them."""
    conn.execute("UPDATE recipe_instances SET stop_requested = 1 WHERE id = ?", (instance_id,))
    rows = conn.execute("UPDATE recipe_roles SET status = 'stopping', updated_at = ? "
                        "WHERE instance_id = ? AND status IN ('starting', 'running') RETURNING *",
                        (now, instance_id)).fetchall()
    return [role_to_dict(r) for r in sorted(rows, key=lambda r: r["position"])]


def status_of(statuses: list[str], stop_requested: bool) -> str:
    """An instance's status from its roles': stopping/stopped once a stop was asked;
    otherwise failed if any role failed, starting while any starts, else running."""
    if stop_requested:
        return "stopping" if "stopping" in statuses else "stopped"
    for status in ("failed", "starting", "stopping"):
        if status in statuses:
            return status
    return "running"


def refresh(conn, instance_id: str, now: int) -> dict:
    """Write the instance's status as its roles now say; answers the instance."""
    row = conn.execute("SELECT stop_requested FROM recipe_instances WHERE id = ?",
                       (instance_id,)).fetchone()
    roles = roles_of(conn, instance_id)
    status = status_of([r["status"] for r in roles], bool(row["stop_requested"]))
    conn.execute("UPDATE recipe_instances SET status = ?, updated_at = ? WHERE id = ?",
                 (status, now, instance_id))
    return get(conn, instance_id)


def expired_commands(conn) -> list[dict]:
    """The expired commands of roles still waiting on them (starting or stopping)."""
    rows = conn.execute(
        """SELECT c.* FROM recipe_roles r JOIN commands c ON c.correlation_id = r.spawn_request_id
            WHERE r.status IN ('starting', 'stopping') AND c.status = 'expired'
            ORDER BY c.seq""")
    return [commands.to_dict(r) for r in rows]
