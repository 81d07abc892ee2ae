"""Commands (API.md §9): the bus from the relay to orchestrators."""
from typing import Annotated, Any, Literal

from pydantic import Field

from ..contract import Answer, Body, Query
from .common import ID_MAX, Id, Int, JsonObject, QInt, Text

TYPES = ("agent.spawn", "agent.restart", "agent.shutdown", "prompt.inject")
STATUSES = ("pending", "accepted", "running", "succeeded", "failed", "cancelled", "expired")
Status = Literal[STATUSES]


CommandType = Annotated[str, Field(
    max_length=120, pattern=r"^(agent\.spawn|agent\.restart|agent\.shutdown|prompt\.inject|x\..+)$",
    description="one of " + ", ".join(TYPES) + ", or x.<name> for a custom type "
    "(at most 120 characters)")]


class CommandIn(Body):
    type: CommandType
    target: Id
    params: JsonObject | None = None
    correlationId: Text(ID_MAX) | None = None
    source: Text(ID_MAX) | None = None
    ttlSeconds: Int(1, 604800) = 600


class CommandPatch(Body):
    status: Literal["accepted", "running", "succeeded", "failed", "cancelled"]
    result: JsonObject | None = None
    error: Text(4000) | None = None


class CommandFilter(Query):
    target: Text(ID_MAX) | None = None
    status: Status | None = None
    type: Text(120) | None = None
    correlationId: Text(ID_MAX) | None = None
    order: Literal["oldest", "newest"] = Field("oldest", description=(
        "oldest or newest: which come first (oldest, the default, is what an orchestrator "
        "polls; newest is what a person looks at)"))
    limit: QInt(1, 500) = 100


class Command(Answer):
    id: str
    type: str
    source: str
    target: str
    correlationId: str | None
    params: dict[str, Any]
    status: Status
    result: dict[str, Any] | None
    error: str | None
    createdAt: int
    updatedAt: int
    expiresAt: int


class Queued(Answer):
    """A command queued by a route (202)."""
    command: Command


class QueuedOk(Queued):
    ok: bool
