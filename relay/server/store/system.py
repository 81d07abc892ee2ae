"""Counts for health and stats."""
from . import agents, commands, messages, orchestrators, policies

OPEN_TASK_STATUSES = ("open", "claimed", "in_progress", "blocked")


def tasks_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM tasks GROUP BY status")}


def health_counts(conn) -> dict:
    by_status = agents.counts_by_status(conn)
    tasks = tasks_by_status(conn)
    return {
        "agentsOnline": sum(by_status.get(s, 0) for s in agents.LIVE_STATUSES),
        "messages": messages.count(conn),
        "queued": messages.queued_count(conn),
        "openTasks": sum(tasks.get(s, 0) for s in OPEN_TASK_STATUSES),
    }


def stats(conn) -> dict:
    by_kind = messages.counts_by_kind(conn)
    by_status = agents.counts_by_status(conn)
    tasks = tasks_by_status(conn)
    return {
        "messages": {"total": sum(by_kind.values()), "byKind": by_kind},
        "agents": {"total": sum(by_status.values()), "byStatus": by_status},
        "tasks": {"total": sum(tasks.values()), "byStatus": tasks},
        "queued": messages.queued_count(conn),
        **keeping_agents(conn),
    }


def keeping_agents(conn) -> dict:
    """Orchestrators, commands and spawn-policy states by status (issue 13)."""
    out = {}
    for name, counts in (("orchestrators", orchestrators.counts_by_status(conn)),
                         ("commands", commands.count_by_status(conn)),
                         ("spawnPolicies", policies.counts_by_status(conn))):
        out[name] = {"total": sum(counts.values()), "byStatus": counts}
    return out
