"""Automations: a trigger (an event type prefix, or an interval) and an
action (the body of the route it stands for), and the runs they make."""
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ..contract import Answer, Body, Query
from .common import Id, Int, JsonObject, QInt, Required

ACTIONS = ("message", "task", "spawn", "command")
TRIGGERS = ("event", "interval", "manual")
RUN_STATES = ("succeeded", "failed", "skipped")
MAX_DEPTH = 3


class Trigger(Body):
    # Either {event, filter?} or {everySeconds}. No docstring: it would become the
    # rule an error states. The oneOf states one_kind() in the document.
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["event"], "properties": {"event": {"type": "string"},
                                               "everySeconds": {"type": "null"}}},
        {"required": ["everySeconds"], "properties": {
            "everySeconds": {"type": "integer"}, "event": {"type": "null"},
            "filter": {"type": "object", "maxProperties": 0}}}]})
    event: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    filter: JsonObject = {}
    everySeconds: Int(1, 2592000) | None = None

    @model_validator(mode="after")
    def one_kind(self):
        if (self.event is None) == (self.everySeconds is None):
            raise ValueError("must have either event (an event type prefix) or everySeconds")
        if self.everySeconds is not None and self.filter:
            raise ValueError("must not have a filter with everySeconds")
        return self

    def stored(self) -> dict:
        if self.event is not None:
            return {"event": self.event, "filter": self.filter}
        return {"everySeconds": self.everySeconds}


class Action(Body):
    # The type, and beside it the body of the route it stands for (checked per type).
    model_config = ConfigDict(extra="allow")
    type: Literal[ACTIONS]


class AutomationIn(Body):
    id: Id | None = None
    name: Annotated[Required, Field(max_length=120)]
    enabled: bool = True
    trigger: Trigger
    action: Action


class AutomationPatch(Body):
    name: Annotated[Required, Field(max_length=120)] | None = None
    enabled: bool | None = None
    trigger: Trigger | None = None
    action: Action | None = None


class RunsQuery(Query):
    limit: QInt(1, 500) = 100


class Automation(Answer):
    id: str
    name: str
    enabled: bool
    trigger: dict[str, Any]
    action: dict[str, Any]
    nextRunAt: int | None
    createdAt: int
    updatedAt: int


class Run(Answer):
    id: int
    automationId: str
    trigger: Literal[TRIGGERS]
    eventId: int | None
    depth: int
    status: Literal[RUN_STATES]
    result: Any
    error: str | None
    startedAt: int
    finishedAt: int


