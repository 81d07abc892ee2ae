"""Orchestrators (API.md §9): register, heartbeat, list, get, roster, delete,
and spawn and actions, which become commands for the orchestrator to poll."""
from flask import Blueprint

from ..contract import route
from ..errors import ApiError, not_found
from ..events import (activity_event, agent_event, agent_removed, orchestrator_event,
                      orchestrator_removed)
from ..orchestration import create_command, on_roster, spawn_params
from ..schemas.commands import Queued
from ..schemas.common import Ok
from ..schemas.orchestrators import (ActionIn, AgentActionIn, Orchestrator, OrchestratorIn,
                                     Roster, SpawnIn)
from ..store import activity, agents, orchestrators
from . import answer, commit, conn, now, relay

bp = Blueprint("orchestrators", __name__, url_prefix="/api")

UNKNOWN = "unknown orchestrator"


def orchestrator_or_404(c, orchestrator_id: str) -> dict:
    orch = orchestrators.get(c, orchestrator_id)
    if orch is None:
        raise not_found(f"orchestrator {orchestrator_id} not found")
    return orch


@route(bp, "POST", "/orchestrators", "Register or update an orchestrator (upsert by id; fields "
       "left out keep their value; it is online again). Also registers or updates its agent "
       "(kind orchestrator, id agentId, default orchestrator-<id>). apiToken is write-only: "
       "the relay sends it as Authorization: Bearer on the requests it proxies to apiUrl and "
       "never answers it or puts it in an event. Emits orchestrator.status and agent.status.", body=OrchestratorIn,
       answers={201: Orchestrator, 200: Orchestrator, 400: "a bad field, or an apiUrl whose "
                "address the outbound rules refuse (link-local, private: RELAY_OUTBOUND_ALLOW)"})
def register(body: OrchestratorIn):
    fields = body.model_dump(exclude={"id"}, exclude_none=True)
    if body.apiUrl:
        refused = relay().outbound.check_literal(body.apiUrl, allow_loopback=True)
        if refused:
            raise ApiError(400, f"apiUrl is refused: {refused}")
    t = now()

    def change(c):
        orch, created = orchestrators.upsert(c, body.id, fields, t)
        agent, agent_created = agents.upsert(c, orch["agentId"], {
            "kind": "orchestrator", "name": orch["hostname"] or orch["agentId"],
            "machine": orch["hostname"], "capabilities": orch["capabilities"]}, t)
        entry = None
        if created:
            entry, _ = activity.add(c, {"kind": "state", "agentId": agent["id"],
                                        "title": f"orchestrator {body.id} registered"}, t)
        return (orch, created), [orchestrator_event(orch), agent_event("agent.status", agent),
                                 entry and activity_event(entry)]
    orch, created = commit(change)
    return answer(orch, 201 if created else 200)


@route(bp, "POST", "/orchestrators/<orchestrator_id>/heartbeat", "Presence for the orchestrator "
       "and its agent; a stale or offline one is online again (orchestrator.status only when "
       "its status changes).", answers={200: Orchestrator, 404: "unknown orchestrator: "
                                        "re-register"})
def heartbeat(orchestrator_id):
    t = now()

    def change(c):
        orch, changed = orchestrators.heartbeat(c, orchestrator_id, t)
        if orch is None:
            raise not_found(f"orchestrator {orchestrator_id} not found")
        agent, agent_changed = agents.touch(c, orch["agentId"], t)
        return orch, [orchestrator_event(orch) if changed else None,
                      agent_event("agent.status", agent) if agent_changed else None]
    return answer(commit(change))


@route(bp, "GET", "/orchestrators", "Every orchestrator, ordered by id.",
       answers={200: [Orchestrator]})
def list_orchestrators():
    return answer(orchestrators.listing(conn()))


@route(bp, "GET", "/orchestrators/<orchestrator_id>", "One orchestrator.",
       answers={200: Orchestrator, 404: UNKNOWN})
def get_orchestrator(orchestrator_id):
    return answer(orchestrator_or_404(conn(), orchestrator_id))


@route(bp, "PATCH", "/orchestrators/<orchestrator_id>/agents", "Replace the managed-agent "
       "roster (what the orchestrator runs now; status running or exited). A spawn policy "
       "starting or running on this orchestrator whose current agent (its spawnRequestId, or "
       "its agentId) turns exited here, or leaves the roster while running, fails at once: "
       "backoff, then a restart (policy.state.changed); an exited entry reported again "
       "changes nothing. Emits orchestrator.status.", body=Roster,
       answers={200: Orchestrator, 404: UNKNOWN})
def set_roster(orchestrator_id, body: Roster):
    roster = [entry.model_dump(exclude_none=True) for entry in body.agents]
    t = now()

    def change(c):
        before = orchestrators.get(c, orchestrator_id)
        orch = orchestrators.set_roster(c, orchestrator_id, roster)
        if orch is None:
            raise not_found(f"orchestrator {orchestrator_id} not found")
        events = on_roster(c, orchestrator_id, before["managedAgents"], roster, t)
        return orch, [orchestrator_event(orch)] + events
    return answer(commit(change))


@route(bp, "DELETE", "/orchestrators/<orchestrator_id>", "Remove an orchestrator and its agent "
       "(when that agent is of kind orchestrator). Emits orchestrator.removed (and "
       "agent.removed).", answers={200: Ok, 404: UNKNOWN})
def delete_orchestrator(orchestrator_id):
    def change(c):
        orch = orchestrators.delete(c, orchestrator_id)
        if orch is None:
            raise not_found(f"orchestrator {orchestrator_id} not found")
        agent = agents.get(c, orch["agentId"])
        gone = agent is not None and agent["kind"] == "orchestrator" and agents.delete(c, agent["id"])
        return {"ok": True}, [orchestrator_removed(orch), agent_removed(agent["id"]) if gone else None]
    return answer(commit(change))


@route(bp, "POST", "/orchestrators/<orchestrator_id>/spawn", "Queue an agent.spawn command for "
       "the orchestrator's agent (correlationId = spawnRequestId). provider must be one the "
       "orchestrator lists; cwd must resolve inside baseDir (symlinks and .. resolved, relative "
       "paths taken from baseDir; compared by path component, so /srv/app-evil is not inside "
       "/srv/app); without cwd the command carries baseDir. An orchestrator without baseDir "
       "takes cwd as given.", body=SpawnIn, answers={202: Queued, 404: UNKNOWN})
def spawn(orchestrator_id, body: SpawnIn):
    t = now()
    orch = orchestrator_or_404(conn(), orchestrator_id)
    params = spawn_params(orch, body.model_dump(), "dashboard", t)

    def change(c):
        orchestrator_or_404(c, orchestrator_id)
        command, events = create_command(c, {"type": "agent.spawn", "target": orch["agentId"],
                                             "correlationId": body.spawnRequestId,
                                             "params": params}, t)
        return {"command": command}, events
    return answer(commit(change), 202)


def action_command(c, orch: dict, action: str, params: dict, t: int):
    return create_command(c, {
        "type": f"agent.{action}", "target": orch["agentId"],
        "correlationId": params.get("spawnRequestId"),
        "params": {"action": action, **params, "reason": params.get("reason") or "manual",
                   "orchestratorId": orch["id"], "requestedBy": "dashboard", "requestedAt": t}}, t)


@route(bp, "POST", "/orchestrators/<orchestrator_id>/actions", "Queue an agent.restart or "
       "agent.shutdown command. It targets the orchestrator's agent (the orchestrator acts); "
       "params name the agent, policy, spawn request and tmux session given.", body=ActionIn,
       answers={202: Queued, 404: UNKNOWN})
def orchestrator_action(orchestrator_id, body: ActionIn):
    params = body.model_dump(exclude={"action"})
    t = now()

    def change(c):
        orch = orchestrator_or_404(c, orchestrator_id)
        command, events = action_command(c, orch, body.action, params, t)
        return {"command": command}, events
    return answer(commit(change), 202)


@route(bp, "POST", "/agents/<agent_id>/actions", "Restart or shut down a managed agent: queues "
       "agent.restart/agent.shutdown for the orchestrator its meta.orchestratorId names (params "
       "carry agentId, orchestratorId, and the agent's meta policyName, spawnRequestId and "
       "tmuxSession when present). 422 when no orchestrator manages it.", body=AgentActionIn,
       answers={202: Queued, 404: "unknown agent",
                422: "no orchestrator manages the agent"})
def agent_action(agent_id, body: AgentActionIn):
    t = now()

    def change(c):
        agent = agents.get(c, agent_id)
        if agent is None:
            raise not_found(f"agent {agent_id} not found")
        orch = orchestrators.managing(c, agent)
        if orch is None:
            raise ApiError(422, f"agent {agent_id} is not managed by an orchestrator "
                           "(its meta.orchestratorId names none)")
        meta = agent["meta"]
        params = {"agentId": agent_id, "reason": body.reason,
                  **{k: meta[k] for k in ("policyName", "spawnRequestId", "tmuxSession")
                     if isinstance(meta.get(k), str)}}
        command, events = action_command(c, orch, body.action, params, t)
        return {"command": command}, events
    return answer(commit(change), 202)
