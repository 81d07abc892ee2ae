"""Agents: register, list, get, patch, heartbeat, delete."""
from flask import Blueprint

from ..contract import route
from ..domain import agents as domain
from ..schemas.agents import STALE, Agent, AgentFilter, AgentIn, Heartbeat, Profile, Session
from ..schemas.common import Ok
from ..store import agents
from . import answer, commit, conn, now

bp = Blueprint("agents", __name__, url_prefix="/api/agents")

UNKNOWN = "unknown agent"


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
    agent, created = commit(lambda c: domain.register(c, agent_id, fields, t))
    return answer(agent, 201 if created else 200)


@route(bp, "GET", "", "List agents, ordered by id.", query=AgentFilter, answers={200: [Agent]})
def list_agents(query: AgentFilter):
    return answer(agents.listing(
        conn(), status=query.status, kind=query.kind, tag=query.tag,
        capability=query.capability, label=query.label, include_offline=query.includeOffline))


@route(bp, "GET", "/<agent_id>", "One agent.", answers={200: Agent, 404: UNKNOWN})
def get_agent(agent_id):
    return answer(domain.get(conn(), agent_id))


@route(bp, "PATCH", "/<agent_id>", "Change status, ready, label (null clears it), tags, "
       "capabilities, meta (merged). Session guard applies.", body=Profile,
       answers={200: Agent, 404: UNKNOWN, 409: STALE})
def patch_agent(agent_id, body: Profile):
    changes = profile(body)
    if "label" in body.model_fields_set and body.label is None:
        changes["label"] = None          # an explicit null clears the label
    t = now()
    return answer(commit(lambda c: domain.patch(c, agent_id, body, changes, t)))


@route(bp, "POST", "/<agent_id>/heartbeat", "Presence. A stale or offline agent is back online. "
       "agent.status is emitted only when the status changes, not for every beat.",
       body=Heartbeat, answers={200: Agent, 404: "unknown agent: re-register", 409: STALE})
def heartbeat(agent_id, body: Heartbeat):
    t = now()
    return answer(commit(lambda c: domain.beat(c, agent_id, body, body.status, t)))


@route(bp, "DELETE", "/<agent_id>", "Remove an agent; its message and task claims are "
       "released (its claimed and in_progress tasks return to open).",
       answers={200: Ok, 404: UNKNOWN})
def delete_agent(agent_id):
    t = now()
    return answer(commit(lambda c: domain.remove(c, agent_id, t)))
