"""Agents as of the latest commit, in memory, for the two hottest reads.

Every inbox poll looks up the polling agent and every send its sender.
Under load each SQLite call gives up the GIL and waits to win it back, so
that lookup costs a poll more than its own query. Agent rows only change
through the committer, and every change that matters to these readers
emits an event carrying the result: `agent.status` holds the whole agent,
`agent.removed` says it is gone. The committer hands each commit's events
here before answering anyone, so a lookup never sees an agent older than
the last change its caller could know about.

The one change without an event is a presence touch that only moves
lastSeen; this process remembers when it wrote each one (`presence_due`).
A cached "no such agent" is replaced by the registration's event.
"""
import threading

_NOT_CACHED = object()
PRESENCE_EVERY_MS = 5000     # sends and polls write presence at most this often per agent
LIMIT = 10_000               # beyond this many ids (most of them unknown senders), start over


class AgentCache:
    def __init__(self, enabled: bool = True):
        # Disabled (several processes on PostgreSQL): get() always loads.
        self.enabled = enabled
        self._agents: dict[str, dict | None] = {}
        self._presence: dict[str, int] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, agent_id: str, load) -> dict | None:
        """The agent (None if there is none), from memory or from `load()`."""
        if not self.enabled:
            return load()
        found = self._agents.get(agent_id, _NOT_CACHED)
        if found is not _NOT_CACHED:
            return found
        generation = self._generation
        agent = load()
        with self._lock:
            # A commit that changed any agent meanwhile may have made this read stale.
            if generation == self._generation:
                if len(self._agents) >= LIMIT:
                    self._agents.clear()
                self._agents[agent_id] = agent
        return agent

    def committed(self, stored) -> None:
        """The committer's hook: the (envelope, scope) pairs of one commit."""
        changes = [(e["subject"], e["data"] if e["type"] == "agent.status" else None)
                   for e, _ in stored if e["type"] in ("agent.status", "agent.removed")]
        if not changes:
            return
        with self._lock:
            self._generation += 1
            for agent_id, agent in changes:
                self._agents[agent_id] = agent

    def presence_due(self, agent: dict | None, now: int) -> bool:
        """Whether a call as this agent should be written down as presence now."""
        if agent is None:
            return False
        if agent["status"] in ("stale", "offline"):
            return True
        seen = max(agent["lastSeen"], self._presence.get(agent["id"], 0))
        return now - seen >= PRESENCE_EVERY_MS

    def presence_written(self, agent_id: str, now: int) -> None:
        if len(self._presence) >= LIMIT:
            self._presence.clear()
        self._presence[agent_id] = max(now, self._presence.get(agent_id, 0))
