"""GET /api/ws through waitress and the upgrade adapter."""
import json
import threading
import time

import pytest
from simple_websocket import Client, ConnectionClosed, ConnectionError as Refused


def connect(live, path="/api/ws"):
    return Client.connect(f"ws://127.0.0.1:{live.port}{path}")


def ask(ws, frame, timeout=5):
    ws.send(json.dumps(frame))
    return receive(ws, timeout)


def receive(ws, timeout=5):
    raw = ws.receive(timeout)
    assert raw is not None, "no frame within the timeout"
    return json.loads(raw)


def test_ping_pong(live):
    ws = connect(live)
    assert ask(ws, {"type": "ping", "id": 7}) == {"id": 7, "type": "pong"}
    ws.close()


@pytest.mark.parametrize("raw,error", [
    ("not json", "a frame is not valid JSON"),
    ("[1]", "a frame must be a JSON object"),
    ('{"type": "dance"}', "type must be subscribe, send, heartbeat or ping"),
    ('{"id": 3}', "type must be subscribe, send, heartbeat or ping"),
    ('{"type": "send", "id": 4}', "message must be a JSON object"),
    ('{"type": "heartbeat"}', "agentId is required"),
    ('{"type": "subscribe", "types": "message."}', "types must be a list of event type prefixes"),
])
def test_bad_frames_get_error_frames_and_the_connection_stays(live, raw, error):
    ws = connect(live)
    ws.send(raw)
    answer = receive(ws)
    assert answer["type"] == "error" and answer["error"] == error and answer["status"] == 400
    assert ask(ws, {"type": "ping"}) == {"id": None, "type": "pong"}
    ws.close()


def test_send_follows_post_rules(live):
    live.request("POST", "/api/agents", {"id": "bob"})
    ws = connect(live)
    ack = ask(ws, {"type": "send", "id": "s1",
                   "message": {"from": "alice", "to": "bob", "body": "hi", "idempotencyKey": "k"}})
    assert ack["type"] == "ack" and ack["id"] == "s1" and ack["created"] is True
    message = ack["message"]
    assert live.request("GET", f"/api/messages/{message['id']}") == (200, message)
    again = ask(ws, {"type": "send", "id": "s2",
                     "message": {"from": "alice", "to": "bob", "body": "hi", "idempotencyKey": "k"}})
    assert (again["created"], again["message"]) == (False, message)
    bad = ask(ws, {"type": "send", "id": "s3", "message": {"from": "alice", "to": "bob"}})
    assert bad == {"type": "error", "id": "s3", "error": "body is required", "status": 400}
    missing = ask(ws, {"type": "send", "message": {"from": "a", "to": "ghost", "body": "x"}})
    assert (missing["error"], missing["status"]) == ("agent ghost not found", 404)
    ws.close()


def test_subscribe_receives_events_after_its_ack(live):
    live.request("POST", "/api/agents", {"id": "me", "tags": ["t"]})
    live.request("POST", "/api/messages", {"from": "x", "to": "me", "body": "old"})
    ws = connect(live)
    ack = ask(ws, {"type": "subscribe", "id": 1, "agentId": "me", "types": ["message."], "since": 0})
    assert ack == {"id": 1, "type": "ack",
                   "subscribed": {"types": ["message."], "agentId": "me", "since": 0}}
    replayed = receive(ws)
    assert replayed["type"] == "event" and replayed["event"]["data"]["body"] == "old"
    live.request("POST", "/api/agents", {"id": "other"})
    live.request("POST", "/api/messages", {"from": "x", "to": "other", "body": "not mine"})
    live.request("POST", "/api/messages", {"from": "x", "to": "tag:t", "body": "live"})
    event = receive(ws)["event"]
    assert (event["type"], event["data"]["body"]) == ("message.new", "live")
    ws.close()


def test_a_send_made_after_the_ack_reaches_the_subscriber_however_late_it_goes_on(live,
                                                                                 monkeypatch):
    """The ack means live: a send made once the client read it reaches it, even
    when the forwarder goes on only after that send committed (on PostgreSQL it
    used to read where live starts only then, and skip it)."""
    from relay.server.api import websocket
    follow, sent = websocket.follow, threading.Event()

    def late(*args, **kwargs):
        assert sent.wait(30)
        yield from follow(*args, **kwargs)
    monkeypatch.setattr(websocket, "follow", late)
    live.request("POST", "/api/agents", {"id": "a"})
    ws = connect(live)
    assert ask(ws, {"type": "subscribe", "types": ["message."]})["type"] == "ack"
    status, message = live.request("POST", "/api/messages",
                                   {"from": "z", "to": "a", "body": "after the ack"})
    assert status == 201
    sent.set()
    event = receive(ws)["event"]
    assert (event["type"], event["data"]["id"]) == ("message.new", message["id"])
    ws.close()


def test_resubscribe_replaces_the_filter(live):
    live.request("POST", "/api/agents", {"id": "a"})
    ws = connect(live)
    ask(ws, {"type": "subscribe", "types": ["activity."]})
    assert ask(ws, {"type": "subscribe", "types": ["message."]})["type"] == "ack"
    live.request("POST", "/api/activity", {"kind": "note", "title": "ignored now"})
    live.request("POST", "/api/messages", {"from": "x", "to": "a", "body": "wanted"})
    assert receive(ws)["event"]["data"]["body"] == "wanted"
    ws.close()


def test_heartbeat_frame(live):
    live.request("POST", "/api/agents", {"id": "a", "instanceId": "one"})
    ws = connect(live)
    ack = ask(ws, {"type": "heartbeat", "id": "h", "agentId": "a", "status": "busy"})
    assert ack["type"] == "ack" and ack["agent"]["status"] == "busy"
    stale = ask(ws, {"type": "heartbeat", "agentId": "a", "instanceId": "two"})
    assert (stale["error"], stale["status"]) == ("stale agent session", 409)
    assert ask(ws, {"type": "heartbeat", "agentId": "ghost"})["status"] == 404
    ws.close()


def test_fifty_connections_in_a_row(live):
    for i in range(50):
        ws = connect(live)
        assert ask(ws, {"type": "ping", "id": i})["id"] == i
        ws.close()
    status, health = live.request("GET", "/api/health")
    assert status == 200 and health["status"] == "ok"
    for _ in range(100):
        if live.request("GET", "/api/health")[1]["streams"]["ws"] == 0:
            break
        time.sleep(0.05)
    assert live.request("GET", "/api/health")[1]["streams"]["ws"] == 0
    assert live.request("GET", "/api/agents")[0] == 200


def test_websocket_counts_as_a_stream(live):
    ws = connect(live)
    ask(ws, {"type": "ping"})
    assert live.request("GET", "/api/health")[1]["streams"]["ws"] == 1
    ws.close()


def test_token_required_for_websocket(live_factory):
    live = live_factory(token="tok")
    with pytest.raises(Refused, match="401"):
        connect(live)
    ws = connect(live, "/api/ws?token=tok")
    assert ask(ws, {"type": "ping"})["type"] == "pong"
    ws.close()


def test_server_closes_websockets_on_shutdown(live_factory):
    live = live_factory()
    ws = connect(live)
    ask(ws, {"type": "subscribe"})
    live.stop()
    with pytest.raises(ConnectionClosed):
        for _ in range(50):
            ws.receive(0.2)
            ws.send(json.dumps({"type": "ping"}))


def test_no_extension_is_negotiated_and_events_arrive(live):
    """A client offering permessage-deflate (as browsers do) gets plain frames:
    each event's frame is made once for every subscriber."""
    import socket
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage
    from wsproto.extensions import PerMessageDeflate

    client = WSConnection(ConnectionType.CLIENT)
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=5)
    sock.sendall(client.send(Request(host="localhost", target="/api/ws",
                                     extensions=[PerMessageDeflate()])))
    frames, accepted = [], None

    def pump():
        client.receive_data(sock.recv(65536))
        for event in client.events():
            if isinstance(event, AcceptConnection):
                return event
            if isinstance(event, TextMessage):
                frames.append(json.loads(event.data))

    while accepted is None:
        accepted = pump()
    assert accepted.extensions == []
    sock.sendall(client.send(TextMessage(data=json.dumps({"type": "subscribe", "types": ["message."]}))))
    live.request("POST", "/api/agents", {"id": "a"})
    live.request("POST", "/api/messages", {"from": "z", "to": "a", "body": "plain"})
    while len(frames) < 2:
        pump()
    assert frames[0]["type"] == "ack"
    assert frames[1]["event"]["data"]["body"] == "plain"
    sock.close()
