"""Counts for health and stats."""
from . import agents, commands, messages, orchestrators, policies

OPEN_TASK_STATUSES = ("open", "claimed", "in_progress", "blocked")


def tasks_by_status(conn) -> dict:
    return {r["status"]: r["n"] for r in
            conn.execute("SELECT status, count(*) AS n FROM tasks GROUP BY status")}


def open_tasks(conn) -> int:
    # Through tasks_status, open statuses only: as many rows as tasks are open,
    # not as many as were ever made.
    marks = ",".join("?" * len(OPEN_TASK_STATUSES))
    return conn.execute(f"SELECT count(*) FROM tasks WHERE status IN ({marks})",
                        OPEN_TASK_STATUSES).fetchone()[0]


def health_counts(conn, tables: dict) -> dict:
    """Health is polled (monitors, the dashboard every few seconds): each
    figure costs what is live (agents, queued messages, open tasks), never
    what history holds. The message count is the messages table's estimate
    among `tables` (retention.figures), one figure for both places."""
    by_status = agents.counts_by_status(conn)
    return {
        "agentsOnline": sum(by_status.get(s, 0) for s in agents.LIVE_STATUSES),
        "messages": tables["messages"]["rows"],
        "queued": messages.queued_count(conn),
        "openTasks": open_tasks(conn),
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
