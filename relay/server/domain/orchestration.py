"""What the relay asks orchestrators to do, and the managed-agent state it moves.

These build one change's store calls and events; the routes (api/) and the
lifecycle manager (lifecycle.py) call them inside their `commit()`.
"""
import secrets

from .errors import Conflict, Invalid, NotFound, Refused, Unprocessable
from ..events import Event, activity_event, command_event
from ..store import activity, commands, orchestrators, policies


def create_command(c, fields: dict, t: int) -> tuple[dict, list]:
    """Queue a command: (command, events), with its activity entry."""
    command = commands.create(c, fields, t)
    entry, _ = activity.add(c, {"kind": "command", "title": f"{command['type']} for "
                                f"{command['target']}", "agentId": command["target"],
                                "meta": {"commandId": command["id"]}}, t)
    return command, [command_event("command.created", command), activity_event(entry)]


def checked_cwd(orch: dict, cwd: str | None) -> str | None:
    """The cwd a spawn runs in: resolved inside the orchestrator's baseDir (400 otherwise);
    relative paths are relative to baseDir; no cwd means baseDir."""
    base = orch["baseDir"]
    if not cwd or not base:
        return cwd or base
    resolved = orchestrators.within_base(cwd, base)
    if resolved is None:
        raise Invalid(f"cwd must be inside the orchestrator's baseDir {base} (compared "
                      "after resolving symlinks and ..)")
    return resolved


def checked_provider(orch: dict, provider: str) -> str:
    """A provider the orchestrator offers (claude, codex or a custom name); 422 otherwise:
    the name is valid, but this orchestrator cannot run it."""
    if provider not in orch["providers"]:
        offered = ", ".join(orch["providers"]) or "none"
        raise Unprocessable(f"provider must be one the orchestrator offers ({offered})")
    return provider


def checked_policy(c, policy: dict) -> None:
    """A spawn policy naming a registered orchestrator must use a provider it offers (one
    naming an orchestrator not registered yet is checked when it starts)."""
    orch = orchestrators.get(c, policy["orchestratorId"])
    if orch is not None:
        checked_provider(orch, policy["provider"])


def spawn_params(orch: dict, spec: dict, requested_by: str, t: int) -> dict:
    """An agent.spawn command's params (the reference's names), checked against the
    orchestrator: its providers, and cwd inside its baseDir."""
    checked_provider(orch, spec["provider"])
    mode = spec.get("approvalMode") or spec.get("permissionMode") or "guarded"
    return {"action": "spawn", "provider": spec["provider"],
            "cwd": checked_cwd(orch, spec.get("cwd")), "label": spec.get("label"),
            "tags": spec.get("tags") or [], "capabilities": spec.get("capabilities") or [],
            "approvalMode": mode, "permissionMode": mode,
            "providerArgs": spec.get("providerArgs") or [], "prompt": spec.get("prompt"),
            "policyName": spec.get("policyName"), "spawnRequestId": spec.get("spawnRequestId"),
            "orchestratorId": orch["id"], "requestedBy": requested_by, "requestedAt": t}


# --- managed agents -------------------------------------------------------------

def state_changed(c, state: dict, title: str, t: int) -> list:
    """policy.state.changed, and the activity entry every state change writes."""
    entry, _ = activity.add(c, {"kind": "state", "agentId": state["agentId"],
                                "title": f"policy {state['policyName']}: {title}",
                                "body": state["lastError"],
                                "meta": {"policyName": state["policyName"],
                                         "status": state["status"]}}, t)
    return [Event("policy.state.changed", state["policyName"], state), activity_event(entry)]


def policy_orchestrator(c, policy: dict, online: bool) -> dict:
    orch = orchestrators.get(c, policy["orchestratorId"])
    if orch is None:
        raise NotFound(f"orchestrator {policy['orchestratorId']} not found")
    if online and orch["status"] != "online":
        raise Conflict(f"orchestrator {orch['id']} is {orch['status']}, not online")
    return orch


def start(c, policy: dict, reason: str, requested_by: str, t: int) -> tuple[dict, list]:
    """Request a spawn for the policy: state `starting` with a new spawnRequestId, and an
    agent.spawn command for its orchestrator. 404/409 when that orchestrator is unknown
    or not online; 409 when the policy cannot spawn there (provider, cwd)."""
    orch = policy_orchestrator(c, policy, online=True)
    request_id = "sp_" + secrets.token_hex(16)
    try:
        params = spawn_params(orch, {**policy, "policyName": policy["name"],
                                     "spawnRequestId": request_id}, requested_by, t)
    except Refused as error:
        raise Conflict(f"spawn policy {policy['name']} cannot start: {error.message}") from None
    state = policies.set_starting(c, policy["name"], request_id, t, orch["id"], policy["provider"])
    command, events = create_command(c, {
        "type": "agent.spawn", "target": orch["agentId"], "correlationId": request_id,
        "params": {**params, "headless": True, "reason": reason}}, t)
    return command, state_changed(c, state, f"starting ({reason})", t) + events


def stop(c, policy: dict, action: str, reason: str, t: int) -> tuple[dict, list]:
    """Shut down (state `stopping`) or restart (state `starting`, the same spawnRequestId,
    so the agent re-registering with it runs the policy again) the policy's agent."""
    orch = policy_orchestrator(c, policy, online=False)
    name = policy["name"]
    before = policies.state(c, name) or policies.never_started(policy)
    if action == "restart":
        request_id = before["spawnRequestId"] or "sp_" + secrets.token_hex(16)
        state = policies.set_starting(c, name, request_id, t, orch["id"], policy["provider"],
                                      restart=True)
    else:
        request_id = before["spawnRequestId"]
        policies.ensure(c, name, t)
        state = policies.set_stopping(c, name, t)
    command, events = create_command(c, {
        "type": f"agent.{action}", "target": orch["agentId"], "correlationId": request_id,
        "params": {"action": action, "policyName": name, "spawnRequestId": request_id,
                   "agentId": before["agentId"], "tmuxSession": before["tmuxSession"],
                   "graceful": True, "timeoutMs": 10000, "reason": reason,
                   "orchestratorId": orch["id"], "requestedBy": "managed-agent",
                   "requestedAt": t}}, t)
    title = "restarting" if action == "restart" else "stopping"
    return command, state_changed(c, state, f"{title} ({reason})", t) + events


def _runs(state: dict):
    """Whether a roster entry is the policy's current run (its spawn request, or its agent)."""
    def match(entry: dict) -> bool:
        return entry.get("policyName") == state["policyName"] and (
            entry.get("spawnRequestId") == state["spawnRequestId"]
            or (state["agentId"] is not None and entry.get("agentId") == state["agentId"]))
    return match


def roster_failure(state: dict, before: list, after: list) -> str | None:
    """Why a roster change is a failure of the policy's current run, or None: its entry
    turned `exited`, or (running) its entry left the roster. Only a change counts, so an
    exited entry the orchestrator keeps reporting fails the run once."""
    match = _runs(state)
    was = [e for e in before if match(e)]
    now = [e for e in after if match(e)]
    if any(e["status"] == "running" for e in now):
        return None
    exited = [e for e in now if e["status"] == "exited"]
    if exited and not any(e["status"] == "exited" for e in was):
        session = exited[0].get("tmuxSession") or exited[0]["sessionName"]
        return f"agent {exited[0].get('agentId') or state['agentId']} exited (tmux session " \
               f"{session})"
    if not now and state["status"] == "running" and any(e["status"] == "running" for e in was):
        return f"agent {state['agentId']} left the orchestrator's roster"
    return None


def on_roster(c, orchestrator_id: str, before: list, after: list, t: int) -> list:
    """A roster report (PATCH /api/orchestrators/:id/agents): a policy whose current agent
    is reported `exited`, or dropped while running, fails at once (backoff, then the
    lifecycle manager restarts it) instead of waiting for presence timeouts."""
    events = []
    for state in policies.active_on(c, orchestrator_id):
        why = roster_failure(state, before, after)
        policy = policies.get(c, state["policyName"]) if why else None
        if policy is not None:
            failed = policies.fail(c, policy["name"], policy, why, t)
            events += state_changed(c, failed, "failure", t)
    return events


def on_command(c, command: dict, t: int) -> list:
    """A command of a policy changed status: a failed spawn or restart is a
    failure (backoff); a succeeded spawn stays `starting` until the agent registers (its
    result's tmuxSession is kept); a succeeded shutdown makes the state `stopped`. Only
    the command of the policy's current spawn request counts."""
    params = command["params"]
    name = params.get("policyName")
    if not isinstance(name, str):
        return []
    state = policies.state(c, name)
    if state is None or state["spawnRequestId"] != params.get("spawnRequestId"):
        return []
    kind, status = command["type"], command["status"]
    if status == "failed" and kind in ("agent.spawn", "agent.restart") \
            and state["status"] == "starting":
        policy = policies.get(c, name) or {}
        error = command["error"] or f"{kind} failed"
        return state_changed(c, policies.fail(c, name, policy, error, t), "start failed", t)
    if status == "succeeded" and kind == "agent.shutdown" and state["status"] == "stopping":
        return state_changed(c, policies.mark_stopped(c, name, t), "stopped", t)
    tmux = (command["result"] or {}).get("tmuxSession")
    if status == "succeeded" and kind == "agent.spawn" and isinstance(tmux, str) \
            and tmux != state["tmuxSession"]:
        return [Event("policy.state.changed", name, policies.set_tmux(c, name, tmux[:200], t))]
    return []
