"""Channels: bindings, inbound events, and what a channel answers."""
import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..contract import ID_PATTERN, MAX_ID, PATTERN_RULES, Answer, Body, Query
from .common import (BODY_MAX, ID_MAX, NAME_MAX, SUBJECT_MAX, Id, Int, JsonObject, QInt,
                     Required, Text)
from .messages import Message

TARGET_TYPES = ("agent", "label", "tag", "capability", "broadcast", "orchestrator", "pool",
                "policy")
NAMED = ("label", "tag", "capability")          # ids of these are names, the rest agent-style ids
MODES = ("exclusive", "broadcast")
DIRECTIONS = ("inbound", "outbound", "both")
PRIORITY_MAX = 1_000_000
_ID = re.compile(ID_PATTERN)


def _one_shape_per_type(schema: dict) -> None:
    # The document states what the validator checks: which id each type takes.
    ids = [t for t in TARGET_TYPES if t not in NAMED and t != "broadcast"]
    schema["oneOf"] = [
        {"properties": {"type": {"enum": list(NAMED)},
                        "id": {"type": "string", "minLength": 1, "maxLength": NAME_MAX}},
         "required": ["type", "id"]},
        {"properties": {"type": {"enum": ids}, "id": {"type": "string", "pattern": ID_PATTERN}},
         "required": ["type", "id"]},
        {"properties": {"type": {"const": "broadcast"}}, "required": ["type"]}]


class Target(Body):
    model_config = {**Body.model_config, "json_schema_extra": _one_shape_per_type}
    type: Literal[TARGET_TYPES]
    # Checked against the type (field order: type is validated first).
    id: Text(ID_MAX) | None = Field(None, validate_default=True)

    @field_validator("id")
    @classmethod
    def _fits_type(cls, value, info: ValidationInfo):
        kind = info.data.get("type")
        if kind is None or kind == "broadcast":
            return None                           # a broadcast target names nobody
        if not value:
            raise ValueError(f"is required for a {kind} target")
        if kind in NAMED:
            if len(value) > NAME_MAX:
                raise ValueError(f"must be at most {NAME_MAX} characters for a {kind} target")
        elif not _ID.fullmatch(value):
            raise ValueError(f"must be {PATTERN_RULES[ID_PATTERN]}")
        return value


class BindingIn(Body):
    target: Target
    mode: Literal[MODES] = "exclusive"
    direction: Literal[DIRECTIONS] = "both"
    priority: Int(0, PRIORITY_MAX) = 100


class BindingsIn(Body):
    bindings: Annotated[list[BindingIn], Field(max_length=100)]


class ChannelEventIn(Body):
    from_: Id | None = Field(None, alias="from")
    body: Annotated[Required, Field(max_length=BODY_MAX)]
    subject: Text(SUBJECT_MAX) | None = None
    payload: JsonObject | None = None
    idempotencyKey: Text(ID_MAX) | None = None


class ChannelPage(Query):
    since: QInt(0, MAX_ID) = 0
    limit: QInt(1, 500) = 100


class TargetOut(Answer):
    type: Literal[TARGET_TYPES]
    id: str | None


class Binding(Answer):
    id: int
    channel: str
    target: TargetOut
    mode: Literal[MODES]
    direction: Literal[DIRECTIONS]
    priority: int
    address: str
    createdAt: int


class BindingHealth(Answer):
    bindingId: int
    healthy: bool
    onlineAgents: int


class Channel(Answer):
    id: str
    bindings: list[Binding]
    messageCount: int
    lastActivityAt: int | None
    health: list[BindingHealth]
    createdAt: int
    updatedAt: int


class Route(Answer):
    bindingId: int
    target: TargetOut
    address: str
    messageId: int
    deliveryStatus: str
    resolvedToAgent: str | None


class ChannelEventResult(Answer):
    messages: list[Message]
    routes: list[Route]

