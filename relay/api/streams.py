"""Event streams (API.md §3): replay-then-follow, SSE, and recent events for pollers."""
import json

from flask import Blueprint, Response, request

from ..contract import MAX_ID, route
from ..errors import ApiError, bad_request
from ..schemas.common import ID_MAX
from ..schemas.system import Event, EventFilter, StreamFilter
from ..broadcaster import CLOSED, RESET, Filter
from ..store import events as event_log
from . import agents as agents_api
from . import answer, conn, relay

bp = Blueprint("streams", __name__, url_prefix="/api")

# Set in a request's environ: the server's task class closes the connection
# after the response (relay/server.py).
CLOSE_AFTER = "relay.close_after"

REPLAY_BATCH = 500


def read_filter(types, agent_id) -> Filter:
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) and 0 < len(t) <= 120 for t in types)):
        raise bad_request("types must be a list of event type prefixes")
    agent = None
    if agent_id is not None:
        if not isinstance(agent_id, str):
            raise bad_request("agentId must be a string")
        if len(agent_id) > ID_MAX:
            raise bad_request(f"agentId must be at most {ID_MAX} characters")
        agent = agents_api.agent_or_404(conn(), agent_id)
    return Filter(types, agent)


def split_types(raw: str | None) -> list[str] | None:
    return [t for t in raw.split(",") if t] if raw else None


def cursor(raw: str, label: str) -> int:
    """An event id given as text (a header or query value)."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        raise bad_request(f"{label} must be a non-negative integer id")
    return int(raw)


def take_slot(kind: str) -> None:
    if not relay().slots.acquire(kind):
        raise ApiError(503, "no stream slot free; retry shortly", {"Retry-After": "2"})


def replay(r, since: int, event_filter: Filter):
    """Logged events after `since` that pass the filter, in batches (lists).

    Yields (RESET, data) first when `since` is older than retention.
    """
    c = r.pool.acquire()
    try:
        first_kept = event_log.first_kept_id(c)
        if since + 1 < first_kept:
            yield RESET, {"reason": "retention", "lastEventId": since, "firstKeptId": first_kept}
        while True:
            batch = event_log.after(c, since, REPLAY_BATCH, list(event_filter.types) or None)
            if batch:
                since = batch[-1][0]["id"]
                wanted = [e for e, scope in batch if event_filter.wants(e, scope)]
                if wanted:
                    yield "events", wanted
            if len(batch) < REPLAY_BATCH:
                return
    finally:
        r.pool.release(c)


def follow(r, subscription, since: int | None, event_filter: Filter, idle: float):
    """Replay, then live events, with no gap and no duplicate.

    Yields ('events', [envelopes]), ('idle', None) after `idle` seconds of
    quiet, and ('reset', data) as the last item once the subscriber fell behind.
    The subscription was opened before the replay read the log, so whatever
    commits meanwhile is queued; ids the replay already sent are skipped.
    """
    last = since or 0
    if since is not None:
        for kind, item in replay(r, since, event_filter):
            if kind == "events":
                last = item[-1]["id"]
            yield kind, item
    while True:
        taken = subscription.take(idle)
        if taken == RESET:
            yield RESET, {"reason": "slow consumer", "lastEventId": last}
            return
        if taken == CLOSED:
            return
        fresh = [e for e in taken if e["id"] > last]
        if fresh:
            last = fresh[-1]["id"]
            yield "events", fresh
        elif not taken:
            yield "idle", None


# --- Server-Sent Events -----------------------------------------------------------

def sse_frames(kind: str, item) -> str:
    """One chunk: a keepalive comment, a reset, or every event taken at once."""
    if kind == "idle":
        return ": keepalive\n\n"
    if kind == RESET:
        return f"event: reset\ndata: {json.dumps(item)}\n\n"
    return "".join(f"id: {e['id']}\nevent: {e['type']}\ndata: {e.text()}\n\n" for e in item)


@route(bp, "GET", "/events", "Server-Sent Events; resume with Last-Event-ID or since. A first "
       "frame `event: reset` means the asked id is older than retention (what is kept follows); "
       "a slow consumer gets `event: reset` and is disconnected. Streams until the client "
       "closes it.", query=StreamFilter, stream="text/event-stream",
       answers={200: "text/event-stream", 404: "unknown agent", 503: "no stream slot free"})
def events_stream(query: StreamFilter):
    r = relay()
    event_filter = read_filter(split_types(query.types), query.agentId)
    since = request.headers.get("Last-Event-ID") or query.since
    if since is not None:
        since = cursor(since, "Last-Event-ID or since")
    take_slot("sse")
    subscription = r.broadcaster.subscribe(event_filter)

    def frames():
        yield ": connected\n\n"
        for kind, item in follow(r, subscription, since, event_filter, r.settings.keepalive):
            yield sse_frames(kind, item)

    def cleanup():
        r.broadcaster.unsubscribe(subscription)
        r.slots.release("sse")

    # A stream ends only at a reset, a shutdown or a gone client: the server
    # closes its connection after it, so a reset client is really disconnected.
    request.environ[CLOSE_AFTER] = True
    response = Response(frames(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(cleanup)
    return response


@route(bp, "GET", "/events/recent", "Logged events as JSON, ascending from since. With agentId, "
       "only what concerns that agent: messages addressed to it (groups matched by its current "
       "tags, label and capabilities), sent by it, resolved to it or claimed by it, and its own "
       "status.", query=EventFilter, answers={200: [Event], 404: "unknown agent"})
def recent_events(query: EventFilter):
    limit = query.limit
    event_filter = read_filter(split_types(query.types), query.agentId)
    found, position = [], query.since or 0
    # Filter by agent in Python (scope matching), so keep reading until full.
    while len(found) < limit:
        batch = event_log.after(conn(), position, REPLAY_BATCH, list(event_filter.types) or None)
        found += [e for e, scope in batch if event_filter.wants(e, scope)]
        if len(batch) < REPLAY_BATCH:
            break
        position = batch[-1][0]["id"]
    return answer(found[:limit])
