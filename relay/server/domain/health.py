"""What GET /api/health calls degraded (its summary): the reap cycle overdue."""

# A few missed periods are noise (a slow pass, a paused process); three are not.
OVERDUE_PERIODS = 3


def reap_overdue(reaper, started_at: int, reap_interval: float, t: int) -> bool:
    """Whether this process's reap cycle, once started, is late by three periods. A process
    following another's lead (PostgreSQL) runs no reap of its own and is never late."""
    if not reaper.running or reaper.following:
        return False
    last = reaper.last_reap_at or started_at
    return last < t - OVERDUE_PERIODS * 1000 * reap_interval - 5000
