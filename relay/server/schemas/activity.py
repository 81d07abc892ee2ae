"""The activity feed."""
from typing import Annotated, Any, Literal

from pydantic import Field

from ..contract import MAX_ID, Answer, Body, Query
from .common import BODY_MAX, ID_MAX, SUBJECT_MAX, Id, JsonObject, Name, QInt, QText, Required, Text

KINDS = ("state", "message", "task", "command", "system", "note")


class ActivityIn(Body):
    # An empty clientId counts as none (api/activity.py).
    clientId: Text(ID_MAX) | None = None
    kind: Literal[KINDS]
    title: Annotated[Required, Field(max_length=SUBJECT_MAX)]
    body: Text(BODY_MAX) | None = None
    icon: Name | None = None
    view: Name | None = None
    agentId: Id | None = None
    meta: JsonObject | None = None


class ActivityFilter(Query):
    kind: Literal[KINDS] | None = None
    agentId: QText(ID_MAX) | None = None
    before: QInt(1, MAX_ID) | None = None
    limit: QInt(1, 500) = 100


class Activity(Answer):
    id: int
    clientId: str | None
    kind: Literal[KINDS]
    title: str
    body: str | None
    icon: str | None
    view: str | None
    agentId: str | None
    meta: dict[str, Any]
    createdAt: int
