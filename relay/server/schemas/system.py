"""System routes and the event streams (GET /api/events and /api/ws)."""
from typing import Annotated, Any, Literal

from pydantic import Field

from ..contract import MAX_ID, Answer, Body, Query
from .common import BODY_MAX, ID_MAX, SUBJECT_MAX, Id, QInt, QText, Required, Text

# Comma separated prefixes, each 1-120 characters (empty items are skipped).
TYPES_PATTERN = r"^[^,]{0,120}(,[^,]{0,120})*$"


class BroadcastIn(Body):
    body: Annotated[Required, Field(max_length=BODY_MAX)]
    subject: Text(SUBJECT_MAX) | None = None
    from_: Id = Field("system", alias="from")


class StreamFilter(Query):
    agentId: QText(ID_MAX) | None = Field(None, description=(
        f"an agent id (at most {ID_MAX} characters): only what concerns that agent"))
    types: Text(4000) | None = Field(None, pattern=TYPES_PATTERN, description=(
        "comma separated event type prefixes of at most 120 characters each (empty: all)"))
    since: QText(20) | None = Field(None, description=(
        "an event id to resume after (or the Last-Event-ID header)"))


class EventFilter(StreamFilter):
    since: QInt(0, MAX_ID) | None = None
    limit: QInt(1, 500) = 100


class Event(Answer):
    id: int
    type: str
    source: str
    subject: str | None
    time: int
    data: dict[str, Any]


class Db(Answer):
    ok: bool
    path: str = Field(description="The SQLite file's absolute path, or the PostgreSQL URL "
                      "without its password")
    sizeBytes: int | None = Field(None, description="The SQLite file's size, or "
                                  "pg_database_size on PostgreSQL")
    walBytes: int | None = Field(None, description="SQLite only: the write-ahead log's size")
    error: str | None = None


class Streams(Answer):
    sse: int
    ws: int
    poll: int
    max: int


class Counts(Answer):
    agentsOnline: int
    messages: int = Field(description="an estimate: newest message id minus oldest plus one (messages "
                          "deleted in between still count), so health costs the same at any size; "
                          "the same figure as tables.messages.rows; GET /api/stats counts exactly")
    queued: int
    openTasks: int


class WorkerStatus(Answer):
    running: bool = Field(description="its thread is alive (also after a stop() that timed out)")
    lastRunAt: int | None = Field(description="when a step of it last finished (ms)")
    lastError: str | None = Field(description="the last step that failed, and why")


class TableFigures(Answer):
    rows: int = Field(description="an estimate from the row ids (newest minus oldest plus one)")
    oldestAgeSeconds: int | None


class Health(Answer):
    status: Literal["ok", "degraded"]
    version: str
    uptimeSeconds: int | None = None
    db: Db
    streams: Streams | None = None
    counts: Counts | None = None
    tables: dict[str, TableFigures] | None = None
    lastReapAt: int | None = None
    workers: dict[str, WorkerStatus] | None = Field(
        None, description="every background thread: broadcaster, hangupWatch, reaper, "
        "callbacks, lifecycle, automations, streamReceipts")


class Total(Answer):
    total: int


class Stats(Answer):
    messages: dict[str, Any]
    agents: dict[str, Any]
    tasks: dict[str, Any]
    queued: int
    orchestrators: dict[str, Any]
    commands: dict[str, Any]
    spawnPolicies: dict[str, Any]


class ReceiptRef(Answer):
    messageId: int
    agentId: str


class ReapResult(Answer):
    releasedMessageIds: list[int]
    expiredQueuedMessageIds: list[int]
    staleAgentIds: list[str]
    offlineAgentIds: list[str]
    prunedAgentIds: list[str]
    trimmedEvents: int
    releasedTaskIds: list[int]
    releasedOrphanedTaskIds: list[int]
    trimmedDeliveries: int
    redeliveredReceipts: list[ReceiptRef] = Field(description=(
        "each receipt redelivered (its ack deadline passed)"))
    overdueReceipts: list[ReceiptRef] = Field(description=(
        "each receipt now overdue (no delivery left)"))
    escalationMessageIds: list[int]
    expiredPairIds: list[int]
    expiredCommandIds: list[str]
    staleOrchestratorIds: list[str]
    offlineOrchestratorIds: list[str]
    failedRecipeInstanceIds: list[str]
    prunedMessages: int = 0
    prunedChannelEvents: int = 0
    prunedActivity: int = 0
    prunedAutomationRuns: int = 0
    prunedTasks: int = 0
    prunedCommands: int = 0
    prunedConfigHistory: int = 0
