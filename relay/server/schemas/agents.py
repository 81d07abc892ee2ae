"""Agents: what registering, patching and acting for an agent take."""
from typing import Any, Literal

from ..contract import Answer, Body, Query
from .common import ID_MAX, NAME_MAX, PATH_MAX, Epoch, Id, Int, JsonObject, Name, Names, QBool, QText, Text

KINDS = ("provider", "channel", "orchestrator", "system", "user")
STATUSES = ("online", "idle", "busy", "stale", "offline")
# The 409 of a call held to the session guard, as route answers describe it.
STALE = "stale agent session: instanceId or epoch is not the registered one"
Kind = Literal[KINDS]
Status = Literal[STATUSES]


class Session(Body):
    """The session guard: when given and not the registered ones, 409."""
    instanceId: Text(ID_MAX) | None = None
    epoch: Epoch | None = None


class Profile(Session):
    """What register and PATCH share. A null clears the label on PATCH."""
    label: Name | None = None
    tags: Names | None = None
    capabilities: Names | None = None
    status: Status | None = None
    ready: bool | None = None
    meta: JsonObject | None = None


class AgentIn(Profile):
    id: Id
    name: Name | None = None
    kind: Kind | None = None
    machine: Name | None = None
    rig: Name | None = None
    cwd: Text(PATH_MAX) | None = None


class Heartbeat(Session):
    status: Status | None = None


class AgentAct(Session):
    """A call made for an agent (claim, release, read)."""
    agentId: Id
    ttlSeconds: Int(1, 86400) | None = None


class AgentFilter(Query):
    status: Status | None = None
    kind: Kind | None = None
    tag: QText(NAME_MAX) | None = None
    capability: QText(NAME_MAX) | None = None
    label: QText(NAME_MAX) | None = None
    includeOffline: QBool = True


class Agent(Answer):
    id: str
    name: str
    kind: Kind
    label: str | None
    tags: list[str]
    capabilities: list[str]
    machine: str | None
    rig: str | None
    cwd: str | None
    status: Status
    ready: bool
    instanceId: str
    epoch: int
    meta: dict[str, Any]
    lastSeen: int
    createdAt: int
    updatedAt: int
