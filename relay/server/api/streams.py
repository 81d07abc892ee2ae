"""Event streams: replay-then-follow, SSE, and recent events for pollers."""
import json

from flask import Blueprint, Response, request

from ..broadcaster import RESET, split_owed
from ..contract import MAX_ID, route
from ..errors import bad_request
from ..schemas.system import Event, EventFilter, StreamFilter
from ..streaming import follow, matching, read_filter, subscribe, take_slot
from ..wire import CLIENT_SOCKET, CLOSE_AFTER, STREAM_SOCKET, client_address, send_some, sse_chunk
from . import answer, conn, relay, release_conn

bp = Blueprint("streams", __name__, url_prefix="/api")

def split_types(raw: str | None) -> list[str] | None:
    return [t for t in raw.split(",") if t] if raw else None


def cursor(raw: str, label: str) -> int:
    """An event id given as text (a header or query value)."""
    # The length first: int() refuses (ValueError) past 4300 digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20 or int(raw) > MAX_ID:
        raise bad_request(f"{label} must be a non-negative integer id")
    return int(raw)


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
    event_filter = read_filter(conn(), split_types(query.types), query.agentId)
    since = request.headers.get("Last-Event-ID") or query.since
    if since is not None:
        since = cursor(since, "Last-Event-ID or since")
    holder = take_slot(r, "sse", client_address(request.environ))
    release_conn()          # a stream holds no pooled connection (replay borrows its own)
    try:
        subscription = subscribe(r, event_filter, since)
    except BaseException:
        r.slots.release("sse", holder)        # no stream after all
        raise
    # Served by serving.py, the body goes out as the chunks made here, and
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
    event_filter = read_filter(conn(), split_types(query.types), query.agentId)
    found = []
    for wanted in matching(conn(), query.since or 0, event_filter):
        found += wanted
        if len(found) >= limit:
            break
    return answer(found[:limit])
