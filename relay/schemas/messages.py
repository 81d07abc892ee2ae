"""Messages (API.md §2): what sending, polling and acting on a message take."""
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ..addresses import split
from ..contract import ID_PATTERN, MAX_ID, PATTERN_RULES, Answer, Body, Query
from .common import (ADDRESS_MAX, BODY_MAX, ID_MAX, NAME_MAX, SUBJECT_MAX, Epoch, Id, Int,
                     JsonObject, MessageId, Name, Page, QBool, QId, QInt, QText, Required, Text)
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
    # README "Acknowledgements and receipts"; the send route's summary says how they work.
    ackRequired: bool = False
    ackBy: Epoch | None = None
    ackWithinSeconds: Int(1, 2592000) | None = None
    maxDeliveries: Int(1, 100) | None = None
    escalateTo: Address | None = None

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
    ackPending: QBool = False
    awaitingAck: QBool = False


class QueuedFor(Query):
    for_: QText(ADDRESS_MAX) = Field(alias="for")
    limit: QInt(1, 500) = 100


RECEIPT_STATES = ("queued", "delivered", "read", "acked", "overdue")


class Receipt(Answer):
    """Where one recipient of a message sent with ackRequired stands."""
    messageId: int
    agentId: str
    state: Literal[RECEIPT_STATES] = Field(description=(
        "queued: not yet carried to the agent; delivered: in an answer to its poll or stream; "
        "read; acked; overdue: not acked after maxDeliveries deliveries"))
    owed: bool = Field(description=(
        "the sender waits for this ack (an agent the address reached when it was sent, or "
        "resolved to); false for a later reader of a group message"))
    deliveredAt: int | None = Field(description="the first poll or stream answer carrying it")
    seenAt: int | None = Field(description="the last poll or stream answer carrying it")
    readAt: int | None
    ackedAt: int | None = Field(description="the first ack (later acks keep it)")
    ackedBy: str | None = Field(description=(
        "who acked: the agent itself, or the claimer of a claimable message (done for all)"))
    note: str | None = Field(description="the ack's note or the nack's reason, the latest")
    deliveryCount: int = Field(description="deliveries so far; the first counts as 1")
    dueAt: int | None = Field(description="the current deadline; null once acked or overdue")
    redelivered: bool = Field(description="redelivered and not yet carried to the agent again")


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
    # Present only on a message sent with ackRequired (other messages stay as small).
    ackRequired: Literal[True] | None = Field(None, description="only on a message sent with "
                                              "ackRequired, and then true")
    ackBy: int | None = Field(None, description="the first deadline (with ackRequired only)")
    maxDeliveries: int | None = Field(None, description="with ackRequired only")
    escalateTo: str | None = Field(None, description="with ackRequired only")
    redelivered: bool | None = Field(None, description=(
        "in an inbox answer only: true when the message is shown again because its ack is "
        "overdue (its id may be below since; keep a cursor at the highest id seen)"))
    receipts: list[Receipt] | None = Field(None, description=(
        "in the recent list (without for) only, for a message sent with ackRequired"))


class MessageStatus(Answer):
    id: int
    deliveryStatus: Literal[DELIVERY]
    resolvedToAgent: str | None
    expiresAt: int | None
    claimedBy: str | None
    claimExpiresAt: int | None
    readBy: list[str]
    receipts: list[Receipt]


class AckIn(Session):
    agentId: Id
    note: Text(2000) | None = None


class NackIn(Session):
    agentId: Id
    reason: Text(2000) | None = None
    retryInSeconds: Int(0, 86400) = 0


class OverdueFilter(Query):
    from_: QText(ID_MAX) | None = Field(None, alias="from")
    to: QText(ADDRESS_MAX) | None = None
    agentId: QText(ID_MAX) | None = None
    limit: QInt(1, 500) = 100


class OverdueReceipt(Receipt):
    message: Message


SEARCH_MAX = 10000


class SearchQuery(Query):
    q: Annotated[str, Field(max_length=SEARCH_MAX, description=(
        f"at most {SEARCH_MAX} characters of web-search syntax: words, \"a phrase\", or, -word, "
        "word* (prefix)"))]
    for_: QId | None = Field(None, alias="for")
    from_: QText(ID_MAX) | None = Field(None, alias="from")
    to: QText(ADDRESS_MAX) | None = None
    kind: Literal[KINDS] | None = None
    channel: QText(NAME_MAX) | None = None
    thread: QInt(1, MAX_ID) | None = None
    since: QInt(0, MAX_ID) | None = None
    before: QInt(1, MAX_ID) | None = None
    limit: QInt(1, 500) = 20


class SearchHit(Message):
    rank: float = Field(description="relevance, higher is better (bm25, negated)")
    snippet: str = Field(description="the best matching passage, matched words in [ ]")


class Cursor(Answer):
    latestId: int


class ReadResult(Answer):
    ok: bool
    read: list[int]
