"""Orchestrators (README: Keeping an agent running): registration with their agent,
presence, roster, removal, and the spawn and action commands queued for them."""
from ..events import (activity_event, agent_event, agent_removed, orchestrator_event,
                      orchestrator_removed)
from ..store import activity, agents, orchestrators
from .errors import Invalid, NotFound, Unprocessable
from .orchestration import create_command, on_roster, spawn_params


def get(c, orchestrator_id: str) -> dict:
    orch = orchestrators.get(c, orchestrator_id)
    if orch is None:
        raise NotFound(f"orchestrator {orchestrator_id} not found")
    return orch


def checked_api_url(outbound, url: str | None) -> None:
    """An apiUrl the relay may proxy to: the outbound rules (outbound.py) allow its
    address (loopback too: the relay token's holder registers orchestrators)."""
    if url:
        refused = outbound.check_literal(url, allow_loopback=True)
        if refused:
            raise Invalid(f"apiUrl is refused: {refused}")


def proxy_target(c, orchestrator_id: str) -> dict:
    """The orchestrator whose API a proxy route forwards to: it has an apiUrl and is online."""
    orch = get(c, orchestrator_id)
    if not orch["apiUrl"]:
        raise Unprocessable(f"orchestrator {orchestrator_id} has no apiUrl")
    if orch["status"] != "online":
        raise Unprocessable(f"orchestrator {orchestrator_id} is {orch['status']}, not online")
    return orch


def register(c, orchestrator_id: str, fields: dict, t: int):
    """Upsert the orchestrator and its agent (kind orchestrator); ((orch, created), events)."""
    orch, created = orchestrators.upsert(c, orchestrator_id, fields, t)
    agent, _ = agents.upsert(c, orch["agentId"], {
        "kind": "orchestrator", "name": orch["hostname"] or orch["agentId"],
        "machine": orch["hostname"], "capabilities": orch["capabilities"]}, t)
    entry = None
    if created:
        entry, _ = activity.add(c, {"kind": "state", "agentId": agent["id"],
                                    "title": f"orchestrator {orchestrator_id} registered"}, t)
    return (orch, created), [orchestrator_event(orch), agent_event("agent.status", agent),
                             entry and activity_event(entry)]


def heartbeat(c, orchestrator_id: str, t: int):
    orch, changed = orchestrators.heartbeat(c, orchestrator_id, t)
    if orch is None:
        raise NotFound(f"orchestrator {orchestrator_id} not found")
    agent, agent_changed = agents.touch(c, orch["agentId"], t)
    return orch, [orchestrator_event(orch) if changed else None,
                  agent_event("agent.status", agent) if agent_changed else None]


def set_roster(c, orchestrator_id: str, roster: list[dict], t: int):
    """Replace the roster; a policy whose current agent exited (or left it while
    running) fails at once (orchestration.on_roster)."""
    before = orchestrators.get(c, orchestrator_id)
    orch = orchestrators.set_roster(c, orchestrator_id, roster)
    if orch is None:
        raise NotFound(f"orchestrator {orchestrator_id} not found")
    return orch, [orchestrator_event(orch)] + on_roster(c, orchestrator_id,
                                                       before["managedAgents"], roster, t)


def remove(c, orchestrator_id: str):
    """The orchestrator, and its agent when that agent is of kind orchestrator."""
    orch = orchestrators.delete(c, orchestrator_id)
    if orch is None:
        raise NotFound(f"orchestrator {orchestrator_id} not found")
    agent = agents.get(c, orch["agentId"])
    gone = agent is not None and agent["kind"] == "orchestrator" and agents.delete(c, agent["id"])
    return {"ok": True}, [orchestrator_removed(orch), agent_removed(agent["id"]) if gone else None]


def spawn(c, orchestrator_id: str, spec: dict, requested_by: str, t: int):
    """An agent.spawn command for the orchestrator's agent (correlationId = spawnRequestId)."""
    orch = get(c, orchestrator_id)
    params = spawn_params(orch, spec, requested_by, t)
    command, events = create_command(c, {"type": "agent.spawn", "target": orch["agentId"],
                                         "correlationId": spec.get("spawnRequestId"),
                                         "params": params}, t)
    return {"command": command}, events


def action(c, orch: dict, kind: str, params: dict, t: int):
    """An agent.restart or agent.shutdown command for the orchestrator's agent."""
    command, events = create_command(c, {
        "type": f"agent.{kind}", "target": orch["agentId"],
        "correlationId": params.get("spawnRequestId"),
        "params": {"action": kind, **params, "reason": params.get("reason") or "manual",
                   "orchestratorId": orch["id"], "requestedBy": "dashboard", "requestedAt": t}}, t)
    return {"command": command}, events


def agent_action(c, agent_id: str, kind: str, reason, t: int):
    """Restart or shut down a managed agent through the orchestrator its meta names."""
    agent = agents.get(c, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    orch = orchestrators.managing(c, agent)
    if orch is None:
        raise Unprocessable(f"agent {agent_id} is not managed by an orchestrator "
                         "(its meta.orchestratorId names none)")
    meta = agent["meta"]
    params = {"agentId": agent_id, "reason": reason,
              **{k: meta[k] for k in ("policyName", "spawnRequestId", "tmuxSession")
                 if isinstance(meta.get(k), str)}}
    return action(c, orch, kind, params, t)
