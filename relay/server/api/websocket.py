"""GET /api/ws: subscribe, send, heartbeat and ping over one WebSocket."""
import json
import threading

from flask import Blueprint, g, request
from simple_websocket import ConnectionClosed

from ..broadcaster import RESET, split_owed
from ..contract import MAX_ID, ROUTES, Route, json_object, parse
from ..domain import agents, messages
from ..domain.errors import Refused
from ..errors import ApiError, bad_request, status_of
from ..schemas.agents import Heartbeat
from ..schemas.messages import MessageIn
from ..streaming import follow, read_filter, subscribe, take_slot
from ..wire import UPGRADED, client_address, ws_text_frame
from ..ws_transport import websocket_view
from . import commit, conn, relay, release_conn

bp = Blueprint("websocket", __name__, url_prefix="/api")

@bp.before_request
def websocket_slot():
    if request.endpoint == "websocket.websocket":
        g.ws_slot = take_slot(relay(), "ws", client_address(request.environ))


@bp.teardown_request
def release_websocket_slot(_error=None):
    holder = g.pop("ws_slot", None)
    if holder is not None:
        relay().slots.release("ws", holder)


def event_text(envelope) -> str:
    return '{"type": "event", "event": ' + envelope.text() + "}"


def event_frame(envelope) -> bytes:
    return ws_text_frame(event_text(envelope).encode())


class WebSocketSink:
    """How the broadcaster writes straight onto one WebSocket (Subscription.take)."""

    def __init__(self, ws):
        self.send_some = ws.send_some

    @staticmethod
    def encode(envelopes) -> bytes:
        return b"".join(e.encoded("ws", event_frame) for e in envelopes)


class Connection:
    """One WebSocket client: its frames in, its subscription's events out.

    The request's thread reads frames; a forwarder thread per subscription
    sends events, so a quiet client still gets them at once.
    """

    def __init__(self, ws, r):
        self.ws = ws
        self.relay = r
        self.subscription = None
        self.forwarder = None

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame))

    def handle(self, raw) -> None:
        frame_id = None
        try:
            frame = json_object(raw, "a frame")
            frame_id = frame.get("id")
            kind = frame.get("type")
            handler = getattr(self, "on_" + kind, None) if isinstance(kind, str) else None
            if handler is None:
                raise bad_request("type must be subscribe, send, heartbeat or ping")
            self.send({"id": frame_id, **handler(frame)})
        except ApiError as error:
            self.send({"type": "error", "id": frame_id, "error": error.message, "status": error.status})
        except Refused as error:
            self.send({"type": "error", "id": frame_id, "error": error.message,
                       "status": status_of(error)})
        finally:
            release_conn()      # an open socket holds no pooled connection between frames
        # Events of a new subscription go out only after its ack.
        if self.forwarder is not None and self.forwarder.ident is None:
            self.forwarder.start()

    def on_ping(self, frame):
        return {"type": "pong"}

    def on_send(self, frame):
        message = frame.get("message")
        if not isinstance(message, dict):
            raise bad_request("message must be a JSON object")
        stored, created = messages.send(self.relay, conn, parse(MessageIn, message).fields(),
                                        self.relay.clock())
        return {"type": "ack", "message": stored, "created": created}

    def on_heartbeat(self, frame):
        agent_id = frame.get("agentId")
        if not isinstance(agent_id, str):
            raise bad_request("agentId is required")
        body, t = parse(Heartbeat, frame), self.relay.clock()
        agent = commit(lambda c: agents.beat(c, agent_id, body, body.status, t))
        return {"type": "ack", "agent": agent}

    def on_subscribe(self, frame):
        event_filter = read_filter(conn(), frame.get("types"), frame.get("agentId"))
        since = frame.get("since")
        if since is not None and (type(since) is not int or not 0 <= since <= MAX_ID):
            raise bad_request(f"since must be an integer between 0 and {MAX_ID}")
        self.stop_forwarding()
        self.subscription = subscribe(self.relay, event_filter, since)
        self.forwarder = threading.Thread(target=self.forward, name="relay-ws-forwarder",
                                          args=(self.subscription, since, event_filter),
                                          daemon=True)
        return {"type": "ack", "subscribed": {**event_filter.describe(), "since": since}}

    def forward(self, subscription, since, event_filter) -> None:
        # The broadcaster writes events straight to the socket while this
        # waits, as frames made once for every subscriber (no extension is
        # ever negotiated, ws_transport.py).
        sink = WebSocketSink(self.ws)
        try:
            for kind, item in follow(self.relay, subscription, since, event_filter, 3600, sink):
                if kind == "events":
                    owed, events = split_owed(item)
                    self.ws.send_frames(owed + WebSocketSink.encode(events))
                elif kind == RESET:
                    self.send({"type": "event", "event": {"id": None, "type": "reset", "data": item}})
                    self.ws.close(1008, "slow consumer: subscribe again with since")
        except ConnectionClosed:
            pass        # the client left or stalled; the request thread ends the session
        finally:
            self.relay.broadcaster.unsubscribe(subscription)

    def stop_forwarding(self) -> None:
        if self.subscription is not None:
            self.relay.broadcaster.unsubscribe(self.subscription)
            self.subscription.close()
            if self.forwarder.ident is not None:
                self.forwarder.join(2)
            self.subscription = self.forwarder = None


ROUTES.append(Route(
    "GET", "/api/ws", "WebSocket. Client frames: subscribe {agentId?, types?, since?}, send "
    "{message}, heartbeat {agentId, instanceId?, epoch?, status?}, ping. Server frames: event "
    "{event}, ack (subscribed | message with created | agent), error {error, status: the HTTP "
    "status the same call would get}, pong; each echoes the frame's id. A new subscribe "
    "replaces the last. A bad frame (also JSON deeper than 64 levels, NaN) gets an error frame "
    "and the connection stays. A slow subscriber gets an event of type reset and the "
    "connection closes.", stream="websocket",
    answers={101: "switching protocols", 400: "not a WebSocket upgrade",
             503: "no stream slot free"}))


@bp.route("/ws", websocket=True)
@websocket_view
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
