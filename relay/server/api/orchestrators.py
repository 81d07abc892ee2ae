"""Orchestrators: register, heartbeat, list, get, roster, delete,
and spawn and actions, which become commands for the orchestrator to poll."""
from flask import Blueprint

from ..contract import route
from ..domain import orchestrators as domain
from ..schemas.commands import Queued
from ..schemas.common import Ok
from ..schemas.orchestrators import (ActionIn, AgentActionIn, Orchestrator, OrchestratorIn,
                                     Roster, SpawnIn)
from ..store import orchestrators
from . import answer, commit, conn, now, relay

bp = Blueprint("orchestrators", __name__, url_prefix="/api")

UNKNOWN = "unknown orchestrator"


@route(bp, "POST", "/orchestrators", "Register or update an orchestrator (upsert by id; fields "
       "left out keep their value; it is online again). Also registers or updates its agent "
       "(kind orchestrator, id agentId, default orchestrator-<id>). apiToken is write-only: "
       "the relay sends it as Authorization: Bearer on the requests it proxies to apiUrl and "
       "never answers it or puts it in an event. Emits orchestrator.status and agent.status.",
       body=OrchestratorIn,
       answers={201: Orchestrator, 200: Orchestrator, 400: "a bad field, or an apiUrl whose "
                "address the outbound rules refuse (link-local, private: RELAY_OUTBOUND_ALLOW)"})
def register(body: OrchestratorIn):
    domain.checked_api_url(relay().outbound, body.apiUrl)
    fields, t = body.model_dump(exclude={"id"}, exclude_none=True), now()
    orch, created = commit(lambda c: domain.register(c, body.id, fields, t))
    return answer(orch, 201 if created else 200)


@route(bp, "POST", "/orchestrators/<orchestrator_id>/heartbeat", "Presence for the orchestrator "
       "and its agent; a stale or offline one is online again (orchestrator.status only when "
       "its status changes).", answers={200: Orchestrator, 404: "unknown orchestrator: "
                                        "re-register"})
def heartbeat(orchestrator_id):
    t = now()
    return answer(commit(lambda c: domain.heartbeat(c, orchestrator_id, t)))


@route(bp, "GET", "/orchestrators", "Every orchestrator, ordered by id.",
       answers={200: [Orchestrator]})
def list_orchestrators():
    return answer(orchestrators.listing(conn()))


@route(bp, "GET", "/orchestrators/<orchestrator_id>", "One orchestrator.",
       answers={200: Orchestrator, 404: UNKNOWN})
def get_orchestrator(orchestrator_id):
    return answer(domain.get(conn(), orchestrator_id))


@route(bp, "PATCH", "/orchestrators/<orchestrator_id>/agents", "Replace the managed-agent "
       "roster (what the orchestrator runs now; status running or exited). A spawn policy "
       "starting or running on this orchestrator whose current agent (its spawnRequestId, or "
       "its agentId) turns exited here, or leaves the roster while running, fails at once: "
       "backoff, then a restart (policy.state.changed); an exited entry reported again "
       "changes nothing. Emits orchestrator.status.", body=Roster,
       answers={200: Orchestrator, 404: UNKNOWN})
def set_roster(orchestrator_id, body: Roster):
    roster, t = [entry.model_dump(exclude_none=True) for entry in body.agents], now()
    return answer(commit(lambda c: domain.set_roster(c, orchestrator_id, roster, t)))


@route(bp, "DELETE", "/orchestrators/<orchestrator_id>", "Remove an orchestrator and its agent "
       "(when that agent is of kind orchestrator). Emits orchestrator.removed (and "
       "agent.removed).", answers={200: Ok, 404: UNKNOWN})
def delete_orchestrator(orchestrator_id):
    return answer(commit(lambda c: domain.remove(c, orchestrator_id)))


@route(bp, "POST", "/orchestrators/<orchestrator_id>/spawn", "Queue an agent.spawn command for "
       "the orchestrator's agent (correlationId = spawnRequestId). provider must be one the "
       "orchestrator lists (422 otherwise); cwd must resolve inside baseDir (symlinks and .. resolved, relative "
       "paths taken from baseDir; compared by path component, so /srv/app-evil is not inside "
       "/srv/app); without cwd the command carries baseDir. An orchestrator without baseDir "
       "takes cwd as given.", body=SpawnIn, answers={202: Queued, 404: UNKNOWN,
                                                   422: "a provider the orchestrator does not offer"})
def spawn(orchestrator_id, body: SpawnIn):
    spec, t = body.model_dump(), now()
    return answer(commit(lambda c: domain.spawn(c, orchestrator_id, spec, "dashboard", t)), 202)


@route(bp, "POST", "/orchestrators/<orchestrator_id>/actions", "Queue an agent.restart or "
       "agent.shutdown command. It targets the orchestrator's agent (the orchestrator acts); "
       "params name the agent, policy, spawn request and tmux session given.", body=ActionIn,
       answers={202: Queued, 404: UNKNOWN})
def orchestrator_action(orchestrator_id, body: ActionIn):
    params, t = body.model_dump(exclude={"action"}), now()
    return answer(commit(lambda c: domain.action(c, domain.get(c, orchestrator_id), body.action,
                                                 params, t)), 202)


@route(bp, "POST", "/agents/<agent_id>/actions", "Restart or shut down a managed agent: queues "
       "agent.restart/agent.shutdown for the orchestrator its meta.orchestratorId names (params "
       "carry agentId, orchestratorId, and the agent's meta policyName, spawnRequestId and "
       "tmuxSession when present). 422 when no orchestrator manages it.", body=AgentActionIn,
       answers={202: Queued, 404: "unknown agent",
                422: "no orchestrator manages the agent"})
def agent_action(agent_id, body: AgentActionIn):
    t = now()
    return answer(commit(lambda c: domain.agent_action(c, agent_id, body.action, body.reason, t)),
                  202)
