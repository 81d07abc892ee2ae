"""Agents (the /api/agents summaries): registration, the session guard, presence, removal.

Removal is one rule whether DELETE /api/agents/:id or the reaper's prune
removes the agent: its message and task claims are released, its pools
re-evaluate it, and agent.removed says it is gone.
"""
from ..events import (activity_event, agent_event, agent_removed, delivery_events, message_event,
                      task_event)
from ..store import activity, agents, messages, tasks
from . import delivery, recipe_runs
from .errors import Conflict, NotFound


def get(c, agent_id: str) -> dict:
    agent = agents.get(c, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def acting(c, agent_id: str, session) -> dict:
    """The agent a call acts for, held to the session guard: an instanceId or
    epoch (of `session`) that is not the registered one is a stale process."""
    agent = get(c, agent_id)
    if not agents.session_matches(agent, session.instanceId, session.epoch):
        raise Conflict("stale agent session")
    return agent


def back_online(c, agent: dict, t: int) -> list:
    """The agent changed or came back: what waited for it (its policy's and
    pools' queues) goes out, its pools re-evaluate it, and agent.status."""
    return [*delivery_events(delivery.on_agent_online(c, agent, t)),
            agent_event("agent.status", agent)]


def register(c, agent_id: str, fields: dict, t: int):
    """Register or update; ((agent, created), events)."""
    agent, created = agents.upsert(c, agent_id, fields, t)
    delivered = delivery.on_agent_online(c, agent, t)
    entry = None
    if created:
        entry, _ = activity.add(c, {"kind": "state", "agentId": agent_id,
                                    "title": f"{agent_id} registered"}, t)
    return (agent, created), [*delivery_events(delivered), agent_event("agent.status", agent),
                              entry and activity_event(entry),
                              *recipe_runs.on_agent(c, agent, t)]


def patch(c, agent_id: str, session, changes: dict, t: int):
    acting(c, agent_id, session)
    agent = agents.patch(c, agent_id, changes, t)
    return agent, back_online(c, agent, t)


def beat(c, agent_id: str, session, status: str | None, t: int):
    """A heartbeat (HTTP or WebSocket): presence, back online if stale."""
    acting(c, agent_id, session)
    agent, changed = agents.touch(c, agent_id, t, status)
    # A heartbeat that changes nothing but lastSeen is not news worth an event.
    return agent, back_online(c, agent, t) if changed else []


def presence(c, agent_id: str, t: int) -> list:
    """A call as the agent counts as presence; one that brings it back online says so."""
    agent, came_back = agents.touch(c, agent_id, t)
    return back_online(c, agent, t) if came_back else []


def removed(c, agent_id: str, t: int) -> list:
    """The events of an agent already deleted: its claims go back, its pools forget it."""
    return [*[message_event("message.claim_released", m)
              for m in messages.release_claims_of(c, agent_id)],
            *[task_event("task.updated", task)
              for task, _ in tasks.release_claims_of(c, agent_id, t)],
            *delivery_events(delivery.on_agent_status(c, agent_id, None)),
            agent_removed(agent_id)]


def remove(c, agent_id: str, t: int):
    if not agents.delete(c, agent_id):
        raise NotFound(f"agent {agent_id} not found")
    return {"ok": True}, removed(c, agent_id, t)


def prune(c, t: int, prune_after_ms: int):
    """The reaper's prune: offline agents silent for long are removed as DELETE removes them."""
    pruned = agents.prune(c, t, prune_after_ms)
    return {"prunedAgentIds": pruned}, [e for agent_id in pruned for e in removed(c, agent_id, t)]
