"""Integrations: creating one, and the events they send."""
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..contract import Answer, Body, NameConverter
from .common import NAME_MAX, Id, Text
from .tasks import TaskIn

SCOPES = ("events:write", "tasks:write", "messages:write")


def _not_events(name: str) -> str:
    if name == "events":
        raise ValueError("must not be events (POST /api/integrations/events is a route)")
    return name


# The path's rule (NameConverter), as a body field.
IntegrationName = Annotated[Id, AfterValidator(_not_events),
                            Field(json_schema_extra={"pattern": NameConverter.schema["pattern"]})]


class IntegrationIn(Body):
    name: IntegrationName
    scopes: Annotated[list[Literal[SCOPES]], Field(min_length=1, max_length=3, description=(
        "a list of 1-3 of events:write, tasks:write, messages:write"))]
    secret: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class IntegrationEventIn(TaskIn):
    type: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    channel: Text(NAME_MAX) | None = None


class Integration(Answer):
    name: str
    scopes: list[Literal[SCOPES]]
    hasSecret: bool
    origin: Literal["api", "env"]
    eventCount: int
    lastEventAt: int | None
    createdAt: int


class CreatedIntegration(Answer):
    integration: Integration
    token: str

