"""Spawn policies (README: Keeping an agent running): the policy (a config entry in the
spawn-policy namespace) and the state of its managed agent, moved by the
routes, the lifecycle manager (lifecycle.py) and the commands it queues."""
from ..events import config_changed
from ..schemas.policies import stored
from ..store import config, orchestrators, policies
from . import config as config_rules, orchestration
from .errors import Conflict, NotFound

NS = policies.NAMESPACE


def get(c, name: str) -> dict:
    policy = policies.get(c, name)
    if policy is None:
        raise NotFound(f"spawn policy {name} not found")
    return policy


def entry(c, name: str) -> dict:
    found = config.get(c, NS, name)
    if found is None:
        raise NotFound(f"spawn policy {name} not found")
    return found


def status(c, policy: dict) -> dict:
    """{policy, state}; a policy never started has state stopped."""
    return {"policy": policy,
            "state": policies.state(c, policy["name"]) or policies.never_started(policy)}


def put(c, name: str, body, t: int):
    """Create or replace the policy, checked and with every default filled in."""
    config_rules.checked_name(name, "name")
    return config_rules.put(c, NS, name, {**stored(body), "name": name}, body.updatedBy,
                            body.expectedVersion, t)


def delete(c, name: str, updated_by, expected: int | None, t: int):
    """Delete the policy and stop its agent: the agent.shutdown command, or None
    when nothing runs (never started, stopped, or its orchestrator is gone)."""
    policy = get(c, name)
    config_rules.expect(c, NS, name, expected)
    state = policies.state(c, name)
    command, events = None, []
    if state and state["status"] != "stopped" and orchestrators.get(c, policy["orchestratorId"]):
        command, events = orchestration.stop(c, policy, "shutdown", "policy-deleted", t)
    deleted = config.delete(c, NS, name, t, updated_by)
    policies.delete_state(c, name)
    return {"ok": True, "command": command}, events + [config_changed(deleted, "delete")]


def start(c, name: str, requested_by: str, t: int):
    """Start the policy's agent now (also from failed and from backoff)."""
    policy = get(c, name)
    state = policies.state(c, name)
    if state and state["status"] in ("starting", "running"):
        raise Conflict(f"spawn policy {name} is already {state['status']}")
    command, events = orchestration.start(c, policy, "manual-start", requested_by, t)
    return {"ok": True, "command": command}, events


def stop(c, name: str, t: int):
    command, events = orchestration.stop(c, get(c, name), "shutdown", "manual-stop", t)
    return {"ok": True, "command": command}, events


def restart(c, name: str, t: int):
    command, events = orchestration.stop(c, get(c, name), "restart", "manual-restart", t)
    return {"ok": True, "command": command}, events
