"""Tasks: what opening, claiming and moving a task take."""
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AfterValidator, Field

from ..contract import MAX_ID, Answer, Body, Query
from .agents import AgentAct, Session
from .common import (BODY_MAX, ID_MAX, NAME_MAX, SUBJECT_MAX, Id, Int, JsonObject, QInt,
                     Required, Text)
from .messages import Address

SEVERITIES = ("info", "low", "medium", "high", "critical")
OPEN = ("open", "claimed", "in_progress", "blocked")
FINAL = ("resolved", "failed", "cancelled")
STATUSES = OPEN + FINAL
URL_MAX = 2000
URL_RULE = f"an http or https URL with a host name or IPv4 address (at most {URL_MAX} characters)"


# A host name (ASCII as RFC 3986 spells it, or an IDN, stored in punycode) or
# an IPv4 address, not a bracketed IPv6 literal (no pattern short of a parser
# says which of those urlsplit takes), and a port of at most 65535.
_HOST = r"[A-Za-z0-9._~%!$&'()*+,;=\u00a0-\uffff-]+"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN = rf"^https?://{_HOST}(:{_PORT})?([/?#]\S*)?$"


# What a path or query may hold as it is; anything else is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _http_url(value: str) -> str:
    """The URL as it will be sent: the host in IDNA (punycode, lower case),
    path and query percent-encoded as UTF-8, no fragment. The pattern
    documents the rule; urlsplit and the IDNA codec have the last word."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and parts.hostname and (parts.port or 1) > 0
        host = parts.hostname.encode("idna").decode("ascii") if valid else ""
    except (ValueError, UnicodeError):
        valid = False
    if not valid or not host:
        raise ValueError("must be " + URL_RULE)
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_PATH_SAFE),
                       quote(parts.query, safe=_QUERY_SAFE), ""))


_ONE_STATUS = "(" + "|".join(STATUSES) + ")"
# The pattern documents the rule; the list is what the store wants.
StatusList = Annotated[str, Field(pattern=f"^{_ONE_STATUS}(,{_ONE_STATUS})*$", description=(
    "a comma separated list of " + ", ".join(STATUSES))),
    AfterValidator(lambda value: list(dict.fromkeys(value.split(","))))]
MOVES = tuple(s for s in STATUSES if s != "claimed")


CallbackUrl = Annotated[str, Field(max_length=URL_MAX, pattern=URL_PATTERN,
                                   description=URL_RULE), AfterValidator(_http_url)]
Title = Annotated[Required, Field(max_length=SUBJECT_MAX)]
Severity = Literal[SEVERITIES]


class TaskIn(Body):
    title: Title
    body: Text(BODY_MAX) | None = None
    severity: Severity = "medium"
    source: Text(NAME_MAX) | None = None
    dedupeKey: Text(ID_MAX) | None = None
    target: Address | None = None
    callbackUrl: CallbackUrl | None = None
    payload: JsonObject | None = None
    meta: JsonObject | None = None


class TaskFilter(Query):
    status: StatusList | None = None
    target: Text(ID_MAX + 20) | None = None
    claimedBy: Text(ID_MAX) | None = None
    source: Text(NAME_MAX) | None = None
    severity: Severity | None = None
    before: QInt(1, MAX_ID) | None = None
    limit: QInt(1, 500) = 100


class TaskClaim(AgentAct):
    """agentId, ttlSeconds (default 300), and the session guard."""


class TaskRelease(Session):
    agentId: Id


class StatusIn(Body):
    status: Literal[MOVES] = Field(description=(
        "one of " + ", ".join(MOVES) + " (claimed is set only by POST /api/tasks/:id/claim)"))
    agentId: Id | None = None
    note: Text(SUBJECT_MAX * 16) | None = None
    result: JsonObject | None = None


class TaskEventIn(Body):
    note: Annotated[Required, Field(max_length=SUBJECT_MAX * 16)]
    agentId: Id | None = None
    progress: Int(0, 100) | None = None


class TaskEvent(Answer):
    id: int
    taskId: int
    type: Literal["created", "duplicate", "claimed", "released", "status", "progress",
                  "claim_expired", "orphaned"]
    status: Literal[STATUSES]
    note: str | None
    agentId: str | None
    progress: int | None
    createdAt: int


class Task(Answer):
    id: int
    title: str
    body: str | None
    severity: Severity
    status: Literal[STATUSES]
    source: str | None
    dedupeKey: str | None
    target: str | None
    claimedBy: str | None
    claimExpiresAt: int | None
    callbackUrl: str | None
    payload: dict[str, Any]
    meta: dict[str, Any]
    result: dict[str, Any] | None
    occurrences: int
    integration: str | None
    createdAt: int
    updatedAt: int
    resolvedAt: int | None


class TaskWithEvents(Task):
    events: list[TaskEvent]


class Delivery(Answer):
    id: int
    taskId: int
    event: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    nextAttemptAt: int | None
    lastError: str | None
    responseStatus: int | None
    createdAt: int
    deliveredAt: int | None
