"""Agents (API.md §1): register, list, get, patch, heartbeat, delete."""
from flask import Blueprint

from ..domain import recipe_runs
from ..contract import route
from ..errors import conflict, not_found
from ..events import (activity_event, agent_event, agent_removed, delivery_events, message_event,
                      task_event)
from ..schemas.agents import Agent, AgentFilter, AgentIn, Heartbeat, Profile, Session
from ..schemas.common import Ok
from ..domain import delivery
from ..store import activity, agents, messages, tasks
from . import answer, commit, conn, now, relay

bp = Blueprint("agents", __name__, url_prefix="/api/agents")

UNKNOWN = "unknown agent"
STALE = "stale agent session: instanceId or epoch is not the registered one"


def known_agent(agent_id: str) -> dict | None:
    """The agent as of the latest commit, for the hot paths; its lastSeen may
    lag (agent_cache.py). Routes that answer with an agent read it fresh."""
    return relay().agent_cache.get(agent_id, lambda: agents.get(conn(), agent_id))


def agent_or_404(c, agent_id: str) -> dict:
    agent = agents.get(c, agent_id)
    if agent is None:
        raise not_found(f"agent {agent_id} not found")
    return agent


def acting_agent(c, agent_id: str, session: Session) -> dict:
    """The agent a call acts for, held to the session guard: an instanceId or
    epoch that is not the registered one is a stale process (409)."""
    agent = agent_or_404(c, agent_id)
    if not agents.session_matches(agent, session.instanceId, session.epoch):
        raise conflict("stale agent session")
    return agent


def back_online(c, agent: dict, t: int) -> list:
    """The agent changed or came back: what waited for it (its policy's and
    pools' queues) goes out, its pools re-evaluate it, and agent.status."""
    return [*delivery_events(delivery.on_agent_online(c, agent, t)),
            agent_event("agent.status", agent)]


def profile(body: Profile) -> dict:
    """The fields register and PATCH share, those given and not null."""
    return body.model_dump(include=set(Profile.model_fields) - set(Session.model_fields),
                           exclude_none=True)


@route(bp, "POST", "", "Register or update an agent (upsert by id). A new instanceId bumps "
       "epoch. Fields left out of an update keep their value; status defaults to online.",
       body=AgentIn, answers={201: Agent, 200: Agent})
def register(body: AgentIn):
    agent_id = body.id
    fields = {**profile(body),
              **body.model_dump(include={"name", "kind", "machine", "rig", "cwd", "instanceId"})}
    t = now()

    def change(c):
        agent, created = agents.upsert(c, agent_id, fields, t)
        delivered = delivery.on_agent_online(c, agent, t)
        entry = None
        if created:
            entry, _ = activity.add(c, {"kind": "state", "agentId": agent_id,
                                        "title": f"{agent_id} registered"}, t)
        return (agent, created), [*delivery_events(delivered), agent_event("agent.status", agent),
                                  entry and activity_event(entry),
                                  *recipe_runs.on_agent(c, agent, t)]
    agent, created = commit(change)
    return answer(agent, 201 if created else 200)


@route(bp, "GET", "", "List agents, ordered by id.", query=AgentFilter, answers={200: [Agent]})
def list_agents(query: AgentFilter):
    return answer(agents.listing(
        conn(), status=query.status, kind=query.kind, tag=query.tag,
        capability=query.capability, label=query.label, include_offline=query.includeOffline))


@route(bp, "GET", "/<agent_id>", "One agent.", answers={200: Agent, 404: UNKNOWN})
def get_agent(agent_id):
    return answer(agent_or_404(conn(), agent_id))


@route(bp, "PATCH", "/<agent_id>", "Change status, ready, label (null clears it), tags, "
       "capabilities, meta (merged). Session guard applies.", body=Profile,
       answers={200: Agent, 404: UNKNOWN, 409: STALE})
def patch_agent(agent_id, body: Profile):
    changes = profile(body)
    if "label" in body.model_fields_set and body.label is None:
        changes["label"] = None          # an explicit null clears the label
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        agent = agents.patch(c, agent_id, changes, t)
        return agent, back_online(c, agent, t)
    return answer(commit(change))


def beat(agent_id: str, body: Heartbeat) -> dict:
    """A heartbeat (also sent over the WebSocket): presence, back online if stale."""
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        agent, changed = agents.touch(c, agent_id, t, body.status)
        # A heartbeat that changes nothing but lastSeen is not news worth an event.
        if not changed:
            return agent, []
        return agent, back_online(c, agent, t)
    return commit(change)


@route(bp, "POST", "/<agent_id>/heartbeat", "Presence. A stale or offline agent is back online. "
       "agent.status is emitted only when the status changes, not for every beat.",
       body=Heartbeat, answers={200: Agent, 404: "unknown agent: re-register", 409: STALE})
def heartbeat(agent_id, body: Heartbeat):
    return answer(beat(agent_id, body))


@route(bp, "DELETE", "/<agent_id>", "Remove an agent; its message and task claims are "
       "released (its claimed and in_progress tasks return to open).",
       answers={200: Ok, 404: UNKNOWN})
def delete_agent(agent_id):
    t = now()

    def change(c):
        if not agents.delete(c, agent_id):
            raise not_found(f"agent {agent_id} not found")
        released = messages.release_claims_of(c, agent_id)
        freed = tasks.release_claims_of(c, agent_id, t)
        return {"ok": True}, [*[message_event("message.claim_released", m) for m in released],
                              *[task_event("task.updated", task) for task, _ in freed],
                              *delivery_events(delivery.on_agent_status(c, agent_id, None)),
                              agent_removed(agent_id)]
    return answer(commit(change))
