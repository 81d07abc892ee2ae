"""Spawn policies: the policy (a config entry) and its managed agent."""
from flask import Blueprint

from ..contract import route
from ..domain import policies as domain
from ..schemas.commands import QueuedOk
from ..schemas.config import ConfigDelete, ConfigEntry
from ..schemas.policies import PolicyDeleted, PolicyStatus, SpawnPolicyPut
from ..store import policies
from . import answer, commit, conn, now

bp = Blueprint("policies", __name__, url_prefix="/api")

UNKNOWN = "unknown spawn policy"


def all_statuses():
    c = conn()
    return answer([domain.status(c, p) for p in policies.listing(c)])


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
    return answer(domain.entry(conn(), name))


@route(bp, "PUT", "/spawn-policy/<name>", "Create or replace a policy: {value: policy, "
       "updatedBy?, expectedVersion?} or the bare policy; checked, and stored with every default "
       "filled in (name is the path's). provider is claude, codex or a custom name; when the "
       "policy's orchestrator is registered it must be one it offers (422), otherwise it is "
       "checked when the policy starts. 201 when it did not exist before, else 200; a stale "
       "expectedVersion is 409. Emits config.changed.", body=SpawnPolicyPut,
       answers={201: ConfigEntry, 200: ConfigEntry,
                400: "a bad field",
                422: "a provider the policy's registered orchestrator does not offer",
                409: "expectedVersion is not current"})
def put_policy(name, body):
    t = now()
    entry, created = commit(lambda c: domain.put(c, name, body, t))
    return answer(entry, 201 if created else 200)


@route(bp, "DELETE", "/spawn-policy/<name>", "Delete a policy and stop its agent: 202 {ok, "
       "command} with the agent.shutdown command, or command null when nothing runs (never "
       "started, stopped, or its orchestrator is gone). The policy's state is removed; "
       "messages still queued for it expire as usual.", query=ConfigDelete,
       answers={202: PolicyDeleted, 404: UNKNOWN, 409: "expectedVersion is not current"})
def delete_policy(name, query: ConfigDelete):
    t = now()
    return answer(commit(lambda c: domain.delete(c, name, query.updatedBy, query.expectedVersion,
                                                 t)), 202)


@route(bp, "POST", "/spawn-policy/<name>/start", "Start the policy's agent now (also from "
       "failed, which the daily cap leaves it in, and from backoff): state starting with a new "
       "spawnRequestId, and an agent.spawn command. 409 when its orchestrator is not online, "
       "when it is already starting or running, or when it cannot spawn there (provider, cwd).",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator",
                409: "orchestrator not online, already starting or running, or cannot spawn"})
def start_policy(name):
    t = now()
    return answer(commit(lambda c: domain.start(c, name, "dashboard", t)), 202)


@route(bp, "POST", "/spawn-policy/<name>/stop", "Stop the policy's agent: state stopping and an "
       "agent.shutdown command; stopped once the command succeeds. An always policy is started "
       "again by the lifecycle manager: set mode manual or enabled false to keep it down.",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator"})
def stop_policy(name):
    t = now()
    return answer(commit(lambda c: domain.stop(c, name, t)), 202)


@route(bp, "POST", "/spawn-policy/<name>/restart", "Restart the policy's agent: state starting "
       "(the same spawnRequestId) and an agent.restart command.",
       answers={202: QueuedOk, 404: "unknown spawn policy or orchestrator"})
def restart_policy(name):
    t = now()
    return answer(commit(lambda c: domain.restart(c, name, t)), 202)


@route(bp, "GET", "/spawn-policy/<name>/status", "{policy, state}.",
       answers={200: PolicyStatus, 404: UNKNOWN})
def policy_status(name):
    c = conn()
    return answer(domain.status(c, domain.get(c, name)))


@route(bp, "GET", "/spawn-policy/<name>/health", "{policy, state} (the same as /status).",
       answers={200: PolicyStatus, 404: UNKNOWN})
def policy_health(name):
    c = conn()
    return answer(domain.status(c, domain.get(c, name)))
