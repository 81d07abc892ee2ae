"""Pairs: invites, actions, messages, and what a pair answers."""
from typing import Annotated, Literal

from pydantic import Field

from ..contract import Answer, Body, Query
from .common import BODY_MAX, ID_MAX, SUBJECT_MAX, Id, JsonObject, QInt, Required, Text

STATUSES = ("pending", "active", "declined", "ended", "expired")
ACTIONS = ("accept", "decline", "end")


class PairIn(Body):
    from_: Id = Field(alias="from")
    to: Id
    topic: Text(SUBJECT_MAX) | None = None


class PairAction(Body):
    action: Literal[ACTIONS]
    agentId: Id


class PairMessageIn(Body):
    from_: Id = Field(alias="from")
    body: Annotated[Required, Field(max_length=BODY_MAX)]
    subject: Text(SUBJECT_MAX) | None = None
    payload: JsonObject | None = None


class PairFilter(Query):
    agentId: Text(ID_MAX) | None = None
    status: Literal[STATUSES] | None = None
    limit: QInt(1, 500) = 100


class Pair(Answer):
    id: int
    from_: str = Field(alias="from")
    to: str
    topic: str | None
    status: Literal[STATUSES]
    inviteMessageId: int | None
    endedBy: str | None
    createdAt: int
    updatedAt: int
    expiresAt: int
