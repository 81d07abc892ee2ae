"""Spawn policies: what keeps a managed agent running, and its state."""
from typing import Annotated, Any, Literal

from pydantic import Field, create_model, model_validator

from ..contract import Answer, Body
from .common import (LIST_MAX, PATH_MAX, PROMPT_MAX, Id, Int, JsonObject, Name, Names, Path,
                     Provider, Text)

PROVIDERS = ("claude", "codex")       # the providers with a provider config
PERMISSION_MODES = ("open", "guarded", "read-only")
MODES = ("always", "on-demand", "manual")
STATES = ("stopped", "starting", "running", "stopping", "backoff", "failed")

PermissionMode = Literal[PERMISSION_MODES]
Args = Annotated[list[Annotated[str, Field(max_length=PATH_MAX)]], Field(
    max_length=LIST_MAX, description=f"a list of at most {LIST_MAX} strings of at most "
    f"{PATH_MAX} characters")]


class Restart(Body):
    maxPerDay: Int(1, 1000) = 10
    backoffSeconds: Int(0, 86400) = 5
    maxBackoffSeconds: Int(0, 86400) = 300


class QueueRule(Body):
    maxAgeSeconds: Int(0, 2592000) = 86400


class SpawnPolicy(Body):
    # A policy as stored (config namespace spawn-policy), defaults filled in. No
    # docstring: it would become the rule an error about the policy states.
    name: Id | None = None          # the key; filled in from it
    orchestratorId: Id
    provider: Provider
    cwd: Path
    label: Name | None = None
    tags: Names = []
    capabilities: Names = []
    permissionMode: PermissionMode = "guarded"
    providerArgs: Args = []
    prompt: Text(PROMPT_MAX) | None = None
    mode: Literal[MODES] = "manual"
    enabled: bool = True
    restart: Restart = Field(default_factory=Restart)
    startTimeoutSeconds: Int(1, 86400) = 120
    idleStopSeconds: Int(1, 2592000) = 900
    queue: QueueRule = Field(default_factory=QueueRule)


class _Unwrap(Body):
    @model_validator(mode="before")
    @classmethod
    def unwrap(cls, data):
        # {value: policy, updatedBy?} or the bare policy: both read as the bare policy
        # (the bare one wins when a body has both).
        if isinstance(data, dict) and isinstance(data.get("value"), dict) \
                and "orchestratorId" not in data:
            return {**data["value"], "updatedBy": data.get("updatedBy"),
                    "expectedVersion": data.get("expectedVersion")}
        return data


# The policy's own fields, declared once above, behind the wrapper's own: a `value`
# that is not an object is named first.
SpawnPolicyPut = create_model(
    "SpawnPolicyPut", __base__=_Unwrap, __doc__="PUT takes {value: policy, updatedBy?, "
    "expectedVersion?} or the bare policy object (with updatedBy/expectedVersion beside it).",
    value=(JsonObject | None, None),
    updatedBy=(Text(200) | None, None),
    expectedVersion=(Int(0, 2**53) | None, None),
    **{name: (f.annotation, f) for name, f in SpawnPolicy.model_fields.items()})


def stored(body) -> dict:
    """The policy to store: every field, defaults filled in, unset optionals left out."""
    value = body.model_dump(include=set(SpawnPolicy.model_fields))
    return {k: v for k, v in value.items() if v is not None}


class PolicyState(Answer):
    policyName: str
    status: Literal[STATES]
    agentId: str | None
    orchestratorId: str | None
    provider: str | None
    tmuxSession: str | None
    spawnRequestId: str | None
    lastSpawnAt: int | None
    lastStopAt: int | None
    healthySince: int | None
    restartCount: int
    restartsToday: int
    consecutiveFailures: int
    nextAttemptAt: int | None
    lastError: str | None
    updatedAt: int


class PolicyStatus(Answer):
    policy: dict[str, Any]
    state: PolicyState


class PolicyDeleted(Answer):
    ok: bool
    command: dict[str, Any] | None
