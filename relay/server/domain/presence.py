"""Presence from calls (the /api/agents summaries): sends and polls count as presence for
a registered agent, written at most every few seconds per agent (the agent
cache remembers when this process last wrote it)."""
from ..store import agents as agent_rows
from . import agents


def known(relay, conn, agent_id: str) -> dict | None:
    """The agent as of the latest commit, for the hot paths; its lastSeen may
    lag (agent_cache.py). Answers that show an agent read it fresh."""
    return known_lazily(relay, lambda: conn, agent_id)


def known_lazily(relay, connect, agent_id: str) -> dict | None:
    """known(), with `connect()` giving the connection only if the agent is
    not in memory: a poll answered from memory borrows none."""
    return relay.agent_cache.get(agent_id, lambda: agent_rows.get(connect(), agent_id))


def due(relay, agent: dict | None, t: int) -> bool:
    return relay.agent_cache.presence_due(agent, t)


def written(relay, agent_id: str, t: int) -> None:
    relay.agent_cache.presence_written(agent_id, t)


def note(relay, agent: dict, t: int) -> None:
    """A call as `agent` (a poll): its presence, when due, in a change of its own."""
    if not due(relay, agent, t):
        return
    relay.committer.commit(lambda c: (None, agents.presence(c, agent["id"], t)))
    written(relay, agent["id"], t)
