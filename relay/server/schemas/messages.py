"""Messages: what sending, polling and acting on a message take."""
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ..domain.addresses import split
from ..contract import ID_PATTERN, PATTERN_RULES, Answer, Body, Query
from .common import (ADDRESS_MAX, BODY_MAX, ID_MAX, NAME_MAX, SUBJECT_MAX, Id, Int, JsonObject,
                     MessageId, Name, Page, QBool, QId, QInt, QText, Required, Text)
from .agents import Session

KINDS = ("chat", "channel.event", "task", "pair", "control", "system")
DELIVERY = ("delivered", "queued", "expired")
_ID = ID_PATTERN[1:-1]
# The one rule for an address; _address explains a failure of it part by part.
ADDRESS_PATTERN = (rf"^(broadcast|(label|tag|cap):[\s\S]{{1,{NAME_MAX}}}"
                   rf"|(pool|policy|orchestrator):{_ID}"
                   rf"|(?!(label|tag|cap|pool|policy|orchestrator):){_ID})$")
_ADDRESS = re.compile(ADDRESS_PATTERN)


def _address(value: str) -> str:
    if _ADDRESS.fullmatch(value):
        return value
    kind, _ = split(value)
    if kind in ("label", "tag", "cap"):
        raise ValueError(f"{kind}: needs a name of 1-{NAME_MAX} characters")
    where = "" if kind == "direct" else f"({kind} id) "
    raise ValueError(f"{where}must be {PATTERN_RULES[ID_PATTERN]}")


Address = Annotated[str, AfterValidator(_address), Field(
    max_length=ADDRESS_MAX, json_schema_extra={"pattern": ADDRESS_PATTERN}, description=(
        f"an address of at most {ADDRESS_MAX} characters: <agentId>, broadcast, label:<label>, "
        "tag:<tag>, cap:<capability>, pool:<name>, policy:<name> or orchestrator:<id>"))]


class MessageIn(Body):
    from_: Id = Field(alias="from")
    to: Address
    body: Annotated[Required, Field(max_length=BODY_MAX)]
    kind: Literal[KINDS] = "chat"
    subject: Text(SUBJECT_MAX) | None = None
    payload: JsonObject | None = None
    meta: JsonObject | None = None
    channel: Name | None = None
    replyTo: MessageId | None = None
    claimable: bool = False
    claimTtlSeconds: Int(1, 86400) = 300
    maxAgeSeconds: Int(0, 2592000) | None = None
    idempotencyKey: Text(ID_MAX) | None = None

    def fields(self) -> dict:
        return self.model_dump(by_alias=True)


class ReadMany(Session):
    agentId: Id
    ids: Annotated[list[MessageId], Field(min_length=1, max_length=500,
                                          description="a list of 1-500 positive integer message ids")]


class Inbox(Page):
    """With `for`, an agent's inbox; without, recent messages for the dashboard."""
    for_: QId | None = Field(None, alias="for")
    unread: QBool = False
    kind: Literal[KINDS] | None = None
    channel: QText(NAME_MAX) | None = None
    wait: QInt(0, 60) = 0
    from_: QText(ID_MAX) | None = Field(None, alias="from")
    to: QText(ADDRESS_MAX) | None = None


class QueuedFor(Query):
    for_: QText(ADDRESS_MAX) = Field(alias="for")
    limit: QInt(1, 500) = 100


class Message(Answer):
    id: int
    from_: str = Field(alias="from")
    to: str
    kind: Literal[KINDS]
    subject: str | None
    body: str
    payload: dict[str, Any]
    meta: dict[str, Any]
    channel: str | None
    replyTo: int | None
    threadId: int
    claimable: bool
    claimTtlSeconds: int
    claimedBy: str | None
    claimedAt: int | None
    claimExpiresAt: int | None
    idempotencyKey: str | None
    readBy: list[str]
    deliveryStatus: Literal[DELIVERY]
    resolvedToAgent: str | None
    expiresAt: int | None
    createdAt: int


class MessageStatus(Answer):
    id: int
    deliveryStatus: Literal[DELIVERY]
    resolvedToAgent: str | None
    expiresAt: int | None
    claimedBy: str | None
    claimExpiresAt: int | None
    readBy: list[str]


class Cursor(Answer):
    latestId: int


class ReadResult(Answer):
    ok: bool
    read: list[int]
