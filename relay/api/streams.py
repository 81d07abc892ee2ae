"""Event streams (API.md §3): SSE, recent events for pollers, and the WebSocket."""
import json
import threading

from flask import Blueprint, Response, g, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .. import validation as v
from ..errors import ApiError, bad_request
from ..events import CLOSED, RESET, Filter
from ..store import events as event_log
from . import agents as agents_api
from . import answer, conn, messages as messages_api, relay

bp = Blueprint("streams", __name__, url_prefix="/api")

# environ flags read by the server's task class (relay/server.py)
CLOSE_AFTER = "relay.close_after"
UPGRADED = "relay.websocket.upgraded"
sock = Sock()

REPLAY_BATCH = 500


def read_filter(types, agent_id) -> Filter:
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) and 0 < len(t) <= 120 for t in types)):
        raise bad_request("types must be a list of event type prefixes")
    agent = None
    if agent_id is not None:
        if not isinstance(agent_id, str):
            raise bad_request("agentId must be a string")
        agent = agents_api.agent_or_404(conn(), v.check_id(agent_id, "agentId"))
    return Filter(types, agent)


def query_types() -> list[str] | None:
    raw = request.args.get("types")
    return [t for t in raw.split(",") if t] if raw else None


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
    return "".join(f"id: {e['id']}\nevent: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in item)


@bp.get("/events")
def events_stream():
    r = relay()
    event_filter = read_filter(query_types(), request.args.get("agentId"))
    since = request.headers.get("Last-Event-ID") or request.args.get("since")
    if since is not None:
        since = v.path_int(since, "Last-Event-ID or since") if since != "0" else 0
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


@bp.get("/events/recent")
def recent_events():
    limit, since, _ = v.page()
    event_filter = read_filter(query_types(), request.args.get("agentId"))
    found, cursor = [], since or 0
    # Filter by agent in Python (scope matching), so keep reading until full.
    while len(found) < limit:
        batch = event_log.after(conn(), cursor, REPLAY_BATCH, list(event_filter.types) or None)
        found += [e for e, scope in batch if event_filter.wants(e, scope)]
        if len(batch) < REPLAY_BATCH:
            break
        cursor = batch[-1][0]["id"]
    return answer(found[:limit])


# --- WebSocket ----------------------------------------------------------------------

@bp.before_request
def websocket_slot():
    if request.endpoint == "streams.websocket":
        take_slot("ws")
        g.ws_slot = True


@bp.teardown_request
def release_websocket_slot(_error=None):
    if g.pop("ws_slot", False):
        relay().slots.release("ws")


class Connection:
    """One WebSocket client: its frames in, its subscription's events out.

    The request's thread reads frames; a forwarder thread per subscription
    sends events, so a quiet client still gets them at once.
    """

    def __init__(self, ws, r):
        self.ws = ws
        self.relay = r
        self.send_lock = threading.Lock()
        self.subscription = None
        self.forwarder = None

    def send(self, frame: dict) -> None:
        with self.send_lock:
            self.ws.send(json.dumps(frame))

    def handle(self, raw) -> None:
        frame_id = None
        try:
            frame = json.loads(raw)
            if not isinstance(frame, dict):
                raise bad_request("a frame must be a JSON object")
            frame_id = frame.get("id")
            kind = frame.get("type")
            handler = getattr(self, "on_" + kind, None) if isinstance(kind, str) else None
            if handler is None:
                raise bad_request("type must be subscribe, send, heartbeat or ping")
            self.send({"id": frame_id, **handler(frame)})
        except ApiError as error:
            self.send({"type": "error", "id": frame_id, "error": error.message, "status": error.status})
        except ValueError:
            self.send({"type": "error", "id": None, "error": "a frame must be valid JSON", "status": 400})
        # Events of a new subscription go out only after its ack.
        if self.forwarder is not None and self.forwarder.ident is None:
            self.forwarder.start()

    def on_ping(self, frame):
        return {"type": "pong"}

    def on_send(self, frame):
        message = frame.get("message")
        if not isinstance(message, dict):
            raise bad_request("message must be a JSON object")
        stored, created = messages_api.send(message)
        return {"type": "ack", "message": stored, "created": created}

    def on_heartbeat(self, frame):
        agent_id = frame.get("agentId")
        if not isinstance(agent_id, str):
            raise bad_request("agentId is required")
        return {"type": "ack", "agent": agents_api.beat(agent_id, frame)}

    def on_subscribe(self, frame):
        event_filter = read_filter(frame.get("types"), frame.get("agentId"))
        since = v.integer(frame, "since", 0, v.MAX_ID)
        self.stop_forwarding()
        self.subscription = self.relay.broadcaster.subscribe(event_filter)
        self.forwarder = threading.Thread(target=self.forward, name="relay-ws-forwarder",
                                          args=(self.subscription, since, event_filter),
                                          daemon=True)
        return {"type": "ack", "subscribed": {**event_filter.describe(), "since": since}}

    def forward(self, subscription, since, event_filter) -> None:
        try:
            for kind, item in follow(self.relay, subscription, since, event_filter, 3600):
                if kind == "events":
                    for envelope in item:
                        self.send({"type": "event", "event": envelope})
                elif kind == RESET:
                    self.send({"type": "event", "event": {"id": None, "type": "reset", "data": item}})
                    self.ws.close(reason=1008, message="slow consumer: subscribe again with since")
        except (ConnectionClosed, OSError):
            pass        # the client left; the request thread ends the session
        finally:
            self.relay.broadcaster.unsubscribe(subscription)

    def stop_forwarding(self) -> None:
        if self.subscription is not None:
            self.relay.broadcaster.unsubscribe(self.subscription)
            self.subscription.close()
            if self.forwarder.ident is not None:
                self.forwarder.join(2)
            self.subscription = self.forwarder = None


@sock.route("/ws", bp=bp)
def websocket(ws):
    request.environ[UPGRADED] = True     # the handshake is done: no HTTP answer may follow
    r = relay()
    connection = Connection(ws, r)
    try:
        # Wake up now and then to notice a shutdown; the forwarder carries events.
        while not r.closing.is_set() and ws.connected:
            raw = ws.receive(timeout=1)
            if raw is not None:
                connection.handle(raw)
    finally:
        connection.stop_forwarding()
