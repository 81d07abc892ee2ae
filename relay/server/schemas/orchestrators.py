"""Orchestrators: registering, the roster, spawn and actions."""
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from ..contract import Answer, Body
from .common import (ID_MAX, PATH_MAX, PROMPT_MAX, Id, Int, JsonObject, Name, Names, Path,
                     Provider, Providers, Text)
from .policies import Args, PermissionMode

STATUSES = ("online", "stale", "offline")
ACTIONS = ("restart", "shutdown")
ROSTER_MAX = 500


def _usable_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        usable = parts.hostname and parts.port != 0    # .port raises when out of range
    except ValueError:
        usable = False
    if not usable:
        raise ValueError("must be an http:// or https:// URL with a host (and a port within "
                         "1-65535)")
    return value.rstrip("/")


class OrchestratorIn(Body):
    id: Id
    hostname: Name | None = None
    agentId: Id | None = None
    providers: Providers | None = None
    baseDir: Path | None = None
    apiUrl: Annotated[str, Field(max_length=PATH_MAX, pattern=r"^https?://[^/?#\s]+[^\s]*$",
                                 description=f"an http:// or https:// URL of at most {PATH_MAX} "
                                 "characters"), AfterValidator(_usable_url)] | None = None
    apiToken: Annotated[str, Field(min_length=16, max_length=512, pattern=r"^[\x21-\x7e]+$",
                                   description="a secret of 16 to 512 printable ASCII characters "
                                   "that the relay sends as Authorization: Bearer on the requests "
                                   "it proxies to apiUrl; write-only: never answered or in events"
                                   )] | None = None
    version: Text(80) | None = None
    capabilities: Names | None = None
    meta: JsonObject | None = None


class RosterEntry(Body):
    sessionName: Text(200)
    provider: Name
    status: Name
    agentId: Id | None = None
    tmuxSession: Text(200) | None = None
    label: Name | None = None
    policyName: Text(ID_MAX) | None = None
    spawnRequestId: Text(160) | None = None
    pid: Int(0, 2**31) | None = None


class Roster(Body):
    agents: Annotated[list[RosterEntry], Field(max_length=ROSTER_MAX)]


class SpawnIn(Body):
    provider: Provider
    cwd: Path | None = None
    label: Name | None = None
    tags: Names = []
    capabilities: Names = []
    approvalMode: PermissionMode = "guarded"
    providerArgs: Args = []
    prompt: Text(PROMPT_MAX) | None = None
    policyName: Text(ID_MAX) | None = None
    spawnRequestId: Text(160) | None = None


class ActionIn(Body):
    action: Literal[ACTIONS]
    agentId: Id | None = None
    policyName: Text(ID_MAX) | None = None
    spawnRequestId: Text(160) | None = None
    tmuxSession: Text(200) | None = None
    reason: Text(200) | None = None


class AgentActionIn(Body):
    action: Literal[ACTIONS]
    reason: Text(200) | None = None


class Orchestrator(Answer):
    id: str
    hostname: str | None
    agentId: str
    providers: list[str]
    baseDir: str | None
    apiUrl: str | None
    version: str | None
    capabilities: list[str]
    status: Literal[STATUSES]
    managedAgents: list[dict[str, Any]]
    meta: dict[str, Any]
    lastHeartbeat: int
    createdAt: int
