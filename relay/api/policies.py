"""Spawn policies (API.md §9): the policy (a config entry) and its managed agent."""
from flask import Blueprint

from .. import orchestration
from ..contract import route
from ..errors import conflict, not_found
from ..events import config_changed
from ..schemas.commands import QueuedOk
from ..schemas.config import ConfigDelete, ConfigEntry
from ..schemas.policies import PolicyDeleted, PolicyStatus, SpawnPolicyPut, stored
from ..store import config, orchestrators, policies
from . import answer, commit, conn, now
from .config import checked_name, expect, put_entry

bp = Blueprint("policies", __name__, url_prefix="/api")

UNKNOWN = "unknown spawn policy"
NS = policies.NAMESPACE


def status_of(c, policy: dict) -> dict:
    return {"policy": policy,
            "state": policies.state(c, policy["name"]) or policies.never_started(policy)}


def policy_or_404(c, name: str) -> dict:
    policy = policies.get(c, name)
    if policy is None:
        raise not_found(f"spawn policy {name} not found")
    return policy


def all_statuses():
    c = conn()
    return answer([status_of(c, p) for p in policies.listing(c)])


@route(bp, "GET", "/spawn-policies", "Every spawn policy with its managed-agent state, by name "
       "(a policy never started has state stopped).", answers={200: [PolicyStatus]})
def list_policies():
    return all_statuses()


@route(bp, "GET", "/spawn-policies/health", "The same as GET /api/spawn-policies.",
       answers={200: [PolicyStatus]})
def policies_health():
    return all_statuses()


@route(bp, "GET", "/spawn-policy/<name>", "The policy's config entry.",
       answers={200: ConfigEntry, 404: UNKNOWN})
def get_policy(name):
    entry = config.get(conn(), NS, name)
    if entry is None:
        raise not_found(f"spawn policy {name} not found")
    return answer(entry)


@route(bp, "PUT", "/spawn-policy/<name>", "Create or replace a policy: {value: policy, "
       "updatedBy?, expectedVersion?} or the bare policy; checked, and stored with every default "
       "filled in (name is the path's). provider is claude, codex or a custom name; when the "
       "policy's orchestrator is registered it must be one it offers (400), otherwise it is "
       "checked when the policy starts. 201 when it did not exist before, else 200; a stale "
       "expectedVersion is 409. Emits config.changed.", body=SpawnPolicyPut,
       answers={201: ConfigEntry, 200: ConfigEntry, 409: "expectedVersion is not current"})
def put_policy(name, body):
    checked_name(name, "name")
    value = {**stored(body), "name": name}
    entry, created = put_entry(NS, name, value, body.updatedBy, body.expectedVersion)
    return answer(entry, 201 if created else 200)


@route(bp, "DELETE", "/spawn-policy/<name>", "Delete a policy and stop its agent: 202 {ok, "
       "command} with the agent.shutdown command, or command null when nothing runs (never "
       "started, stopped, or its orchestrator is gone). The policy's state is removed; "
       "messages still queued for it expire as usual.", query=ConfigDelete,
       answers={202: PolicyDeleted, 404: UNKNOWN, 409: "expectedVersion is not current"})
def delete_policy(name, query: ConfigDelete):
    t = now()

    def change(c):
        policy = policy_or_404(c, name)
        expect(c, NS, name, query.expectedVersion)
        state = policies.state(c, name)
        command, events = None, []
        if state and state["status"] != "stopped" and orchestrators.get(
                c, policy["orchestratorId"]):
            command, events = orchestration.stop(c, policy, "shutdown", "policy-deleted", t)
        entry = config.delete(c, NS, name, t, query.updatedBy)
        policies.delete_state(c, name)
        return {"ok": True, "command": command}, events + [config_changed(entry, "delete")]
    return answer(commit(change), 202)


def act(name: str, do):
    t = now()

    def change(c):
        command, events = do(c, policy_or_404(c, name), t)
        return {"ok": True, "command": command}, events
    return answer(commit(change), 202)


@route(bp, "POST", "/spawn-policy/<name>/start", "Start the policy's agent now (also from "
       "failed, which the daily cap leaves it in, and from backoff): state starting with a new "
       "spawnRequestId, and an agent.spawn command. 409 when its orchestrator is not online, "
       "when it is already starting or running, or when it cannot spawn there (provider, cwd).",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator",
                409: "orchestrator not online, already starting or running, or cannot spawn"})
def start_policy(name):
    def do(c, policy, t):
        state = policies.state(c, name)
        if state and state["status"] in ("starting", "running"):
            raise conflict(f"spawn policy {name} is already {state['status']}")
        return orchestration.start(c, policy, "manual-start", "dashboard", t)
    return act(name, do)


@route(bp, "POST", "/spawn-policy/<name>/stop", "Stop the policy's agent: state stopping and an "
       "agent.shutdown command; stopped once the command succeeds. An always policy is started "
       "again by the lifecycle manager: set mode manual or enabled false to keep it down.",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator"})
def stop_policy(name):
    return act(name, lambda c, policy, t: orchestration.stop(c, policy, "shutdown",
                                                             "manual-stop", t))


@route(bp, "POST", "/spawn-policy/<name>/restart", "Restart the policy's agent: state starting "
       "(the same spawnRequestId) and an agent.restart command.",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator"})
def restart_policy(name):
    return act(name, lambda c, policy, t: orchestration.stop(c, policy, "restart",
                                                             "manual-restart", t))


@route(bp, "GET", "/spawn-policy/<name>/status", "{policy, state}.",
       answers={200: PolicyStatus, 404: UNKNOWN})
def policy_status(name):
    c = conn()
    return answer(status_of(c, policy_or_404(c, name)))


@route(bp, "GET", "/spawn-policy/<name>/health", "{policy, state} (the same as /status).",
       answers={200: PolicyStatus, 404: UNKNOWN})
def policy_health(name):
    c = conn()
    return answer(status_of(c, policy_or_404(c, name)))
