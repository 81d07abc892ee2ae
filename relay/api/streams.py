"""Event streams (API.md §3): replay-then-follow, SSE, and recent events for pollers."""
import json

from flask import Blueprint, Response, request

from ..contract import MAX_ID, route
from ..errors import ApiError, bad_request
from ..schemas.common import ID_MAX
from ..schemas.system import Event, EventFilter, StreamFilter
from ..broadcaster import CLOSED, RESET, Filter, split_owed
from ..store import events as event_log
from ..wire import send_some, sse_chunk
from . import agents as agents_api
from . import answer, conn, relay

bp = Blueprint("streams", __name__, url_prefix="/api")

# Set in a request's environ: the server's task class closes the connection
# after the response (relay/server.py).
CLOSE_AFTER = "relay.close_after"
# Put in the environ by relay.server: a callable giving the stream its own
# socket (in timeout mode), and the client's connection, to watch for hang-ups.
STREAM_SOCKET = "relay.stream_socket"
CLIENT_SOCKET = "relay.client_socket"
# Put there too: the address the per-client limits count the request under
# (the forwarded client behind a trusted proxy, relay/forwarded.py).
CLIENT_ADDRESS = "relay.client_address"

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
    return Filter(types, agent, carries=agent is not None)


def split_types(raw: str | None) -> list[str] | None:
    return [t for t in raw.split(",") if t] if raw else None


def cursor(raw: str, label: str) -> int:
    """An event id given as text (a header or query value)."""
    # The length first: int() refuses (ValueError) past 4300 digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20 or int(raw) > MAX_ID:
        raise bad_request(f"{label} must be a non-negative integer id")
    return int(raw)


def client_address() -> str:
    return request.environ.get(CLIENT_ADDRESS) or request.remote_addr or ""


def take_slot(kind: str) -> str:
    """A stream slot for this client, or 503; answers the client key to release it with."""
    client = client_address()
    refused = relay().slots.acquire(kind, client)
    if refused:
        raise ApiError(503, refused, {"Retry-After": "2"})
    return client


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
                    if event_filter.carries:
                        r.stream_receipts.note(event_filter.agent["id"], wanted)
                    yield "events", wanted
            if len(batch) < REPLAY_BATCH:
                return
    finally:
        r.pool.release(c)


def follow(r, subscription, since: int | None, event_filter: Filter, idle: float, sink=None,
           keepalive: bytes | None = None):
    """Replay, then live events, with no gap and no duplicate.

    Yields ('events', [envelopes]), ('idle', None) after `idle` seconds of
    quiet, and ('reset', data) as the last item once the subscriber fell behind.
    The subscription was opened before the replay read the log, so whatever
    commits meanwhile is queued; ids the replay already sent are skipped.

    With a `sink`, live events go straight to it while this waits
    (Subscription.take), and so does `keepalive` after each `idle` seconds
    of quiet; the bytes it could not take come back as a bytes item, first
    in a list, to be written before anything else.
    """
    last = since or 0
    if since is not None:
        for kind, item in replay(r, since, event_filter):
            if kind == "events":
                last = item[-1]["id"]
            yield kind, item
    while True:
        taken = subscription.take(idle, sink=sink, seen=last, keepalive=keepalive)
        last = max(last, subscription.sent_id)
        if taken == RESET:
            yield RESET, {"reason": "slow consumer", "lastEventId": last}
            return
        if taken == CLOSED:
            return
        fresh = [e for e in taken if type(e) is bytes or e["id"] > last]
        if fresh:
            if type(fresh[-1]) is not bytes:
                last = fresh[-1]["id"]
            yield "events", fresh
        elif not taken:
            yield "idle", None


# --- Server-Sent Events -----------------------------------------------------------

def sse_event(envelope) -> bytes:
    return f"id: {envelope['id']}\nevent: {envelope['type']}\ndata: {envelope.text()}\n\n".encode()


def sse_events(envelopes) -> bytes:
    return b"".join(e.encoded("sse", sse_event) for e in envelopes)


KEEPALIVE_COMMENT = b": keepalive\n\n"
KEEPALIVE = sse_chunk(KEEPALIVE_COMMENT)


class SSESink:
    """How the broadcaster writes straight onto one SSE stream's socket."""

    def __init__(self, sock):
        self.sock = sock

    @staticmethod
    def encode(envelopes) -> bytes:
        if len(envelopes) == 1:         # the usual case: one chunk made once for every stream
            return envelopes[0].encoded("sse-chunk", lambda e: sse_chunk(e.encoded("sse", sse_event)))
        return sse_chunk(sse_events(envelopes))

    def send_some(self, data: bytes) -> int:
        return send_some(self.sock, data)


def sse_body(kind: str, item, chunk) -> bytes:
    """What one step of follow() puts on the wire: a keepalive comment, a
    reset, or the bytes owed plus every event taken, as one chunk."""
    if kind == "idle":
        return chunk(KEEPALIVE_COMMENT)
    if kind == RESET:
        return chunk(f"event: reset\ndata: {json.dumps(item)}\n\n".encode())
    owed, events = split_owed(item)
    return owed + chunk(sse_events(events)) if events else owed


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
    holder = take_slot("sse")
    subscription = r.broadcaster.subscribe(event_filter)
    # Served by relay.server, the body goes out as the chunks made here, and
    # the socket is ours once the headers are out; elsewhere (the test
    # client), as plain bytes through the WSGI server.
    stream_socket = request.environ.get(STREAM_SOCKET)
    chunk = sse_chunk if stream_socket else bytes
    client = request.environ.get(CLIENT_SOCKET)
    hangup = r.hangups.add(client, subscription.close) if client else None

    def frames():
        yield chunk(b": connected\n\n")
        sink = SSESink(stream_socket()) if stream_socket else None
        for kind, item in follow(r, subscription, since, event_filter, r.settings.keepalive, sink,
                                 KEEPALIVE):
            yield sse_body(kind, item, chunk)

    def cleanup():
        r.hangups.remove(hangup)          # before the socket closes
        subscription.close()              # no more direct writes to it
        r.broadcaster.unsubscribe(subscription)
        r.slots.release("sse", holder)

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
