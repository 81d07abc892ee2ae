"""Orchestrator API proxies: pass-through, 404/422/502, the timeout, streams."""
import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relay.server.api import proxies


class Upstream(BaseHTTPRequestHandler):
    """The orchestrator's own API: echoes what it was asked; /api/logs/stream streams."""
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/api/logs/stream"):
            return self.stream()
        if self.path.startswith("/api/directories?status="):
            return self.refuse()
        status = {"/api/sessions?fail=1": 500, "/api/logs/none": 404}.get(self.path, 200)
        body = json.dumps({"path": self.path,
                           "token": self.headers.get("X-Agent-Relay-Token"),
                           "authorization": self.headers.get("Authorization"),
                           **({"error": "no such session"} if status == 404 else {})}).encode()
        html = self.path.startswith("/api/logs/page")
        if html:
            body = b"<script>fetch('/api/messages?token='+localStorage.token)</script>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self):
        """?status=N&type=T&body=B: that answer, as the orchestrator's API would give it."""
        from urllib.parse import parse_qs, urlsplit
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        body = query["body"].encode()
        self.send_response(int(query["status"]))
        self.send_header("Content-Type", query["type"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for frame, wait in ((b"data: one\n\n", False), (b"data: two\n\n", True)):
            if wait:
                self.release.wait(10)
            self.wfile.write(b"%X\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Upstream.release.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Upstream.release.set()
    server.shutdown()
    server.server_close()


def add(client, api_url, orchestrator_id="h1"):
    body = {"id": orchestrator_id}
    if api_url:
        body["apiUrl"] = api_url
    assert client.post("/api/orchestrators", json=body).status_code in (200, 201)


@pytest.mark.parametrize("name", ["directories", "providers", "sessions", "version"])
def test_passes_the_answer_and_query_through(client, upstream, name):
    add(client, upstream + "/")
    r = client.get(f"/api/orchestrators/h1/{name}?path=%2Fsrv&x=1")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.get_json() == {"path": f"/api/{name}?path=%2Fsrv&x=1", "token": None,
                            "authorization": None}
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Disposition" not in r.headers


def test_logs_session_is_one_path_segment(client, upstream):
    add(client, upstream)
    r = client.get("/api/orchestrators/h1/logs/relay:rev@1?tail=5")
    assert r.get_json()["path"] == "/api/logs/relay%3Arev%401?tail=5"


def test_sends_the_orchestrators_own_token_never_the_relays(db_path, clock, upstream):
    from relay.server import create_app
    from relay.server.settings import Settings
    app = create_app(Settings(db=db_path, token="sekret"), clock)
    try:
        client = app.test_client()
        client.environ_base["HTTP_X_AGENT_RELAY_TOKEN"] = "sekret"
        secret = "orch-secret-0123456789"
        r = client.post("/api/orchestrators", json={"id": "h1", "apiUrl": upstream,
                                                    "apiToken": secret})
        assert r.status_code == 201 and "apiToken" not in r.get_json()
        assert secret not in client.get("/api/orchestrators").get_data(as_text=True)
        assert secret not in client.get("/api/events/recent").get_data(as_text=True)
        # Neither the relay token in a header nor the caller's ?token= goes upstream.
        r = client.get("/api/orchestrators/h1/version?a=1&token=sekret&b=2")
        assert r.get_json() == {"path": "/api/version?a=1&b=2", "token": None,
                                "authorization": f"Bearer {secret}"}
        # Re-registering without apiToken keeps it.
        client.post("/api/orchestrators", json={"id": "h1", "version": "2"})
        assert client.get("/api/orchestrators/h1/version").get_json()["authorization"] == \
            f"Bearer {secret}"
    finally:
        app.extensions["relay"].stop()


def test_an_orchestrator_without_api_token_gets_no_authorization(client, upstream):
    add(client, upstream)
    assert client.get("/api/orchestrators/h1/version").get_json()["authorization"] is None


@pytest.mark.parametrize("token", ["short", "x" * 513, "has space in it ok?"])
def test_a_bad_api_token_is_400(client, token):
    r = client.post("/api/orchestrators", json={"id": "h1", "apiToken": token})
    assert r.status_code == 400 and "apiToken" in r.get_json()["error"]


def test_an_html_answer_is_an_inert_attachment(client, upstream):
    add(client, upstream)
    r = client.get("/api/orchestrators/h1/logs/page")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Content-Disposition"] == "attachment"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize("session", ["..", "%2e%2e", "%252e%252e", ".", "a%00b", "%2500",
                                     "a%252fb"])
def test_a_session_that_is_not_one_segment_is_400(client, upstream, session):
    add(client, upstream)
    r = client.get(f"/api/orchestrators/h1/logs/{session}")
    assert r.status_code == 400, r.get_data()
    assert r.get_json()["error"].startswith("session must be one path segment")


def test_statuses(client, upstream, clock):
    assert client.get("/api/orchestrators/nope/version").status_code == 404
    add(client, None, "bare")
    r = client.get("/api/orchestrators/bare/version")
    assert (r.status_code, r.get_json()) == (422, {"error": "orchestrator bare has no apiUrl"})
    add(client, upstream)
    r = client.get("/api/orchestrators/h1/logs/none")
    assert (r.status_code, r.get_json()) == (404, {
        "path": "/api/logs/none", "token": None, "authorization": None,
        "error": "no such session"})
    r = client.get("/api/orchestrators/h1/sessions?fail=1")
    assert (r.status_code, r.get_json()) == (502, {"error": "orchestrator h1 API answered 500"})
    clock.advance(91)
    client.post("/api/system/reap")
    r = client.get("/api/orchestrators/h1/version")
    assert (r.status_code, r.get_json()) == (422, {"error": "orchestrator h1 is stale, not online"})


OUTSIDE = '{"error": "path must be inside the base dir: cwd ../x is outside the base dir"}'


@pytest.mark.parametrize("status, kind, body, expected", [
    # The orchestrator's own refusal of what was asked, in the relay's error shape: as it is.
    (400, "application/json", OUTSIDE, 400),
    (403, "application/json; charset=utf-8", '{"error": "path /x cannot be read"}', 403),
    (404, "application/json", '{"error": "path x is not a directory"}', 404),
    (409, "application/json", '{"error": "busy"}', 409),
    (422, "application/json", '{"error": "no"}', 422),
    # Not the caller's to fix, or not an error in the relay's shape: a 502.
    (401, "application/json", '{"error": "missing or wrong token"}', 502),
    (405, "application/json", '{"error": "method GET is not allowed"}', 502),
    (400, "text/html", "<h1>bad</h1>", 502),
    (400, "application/json", "not json", 502),
    (400, "application/json", '{"message": "bad"}', 502),
    (400, "application/json", '["error"]', 502),
    (500, "application/json", '{"error": "boom"}', 502),
    (503, "application/json", '{"error": "later"}', 502),
])
def test_an_orchestrators_own_4xx_error_is_passed_through(client, upstream, status, kind, body,
                                                           expected):
    from urllib.parse import urlencode
    add(client, upstream)
    query = urlencode({"status": status, "type": kind, "body": body})
    r = client.get(f"/api/orchestrators/h1/directories?{query}")
    if expected == 502:
        assert (r.status_code, r.get_json()) == (502, {
            "error": f"orchestrator h1 API answered {status}"})
    else:
        assert (r.status_code, r.mimetype, r.get_data(as_text=True)) == (
            expected, "application/json", body)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Disposition" not in r.headers


def test_unreachable_is_502(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # closed again: nothing listens there
    add(client, f"http://127.0.0.1:{port}")
    r = client.get("/api/orchestrators/h1/version")
    assert r.status_code == 502
    assert r.get_json()["error"].startswith("orchestrator h1 API is unreachable: ")


def test_a_server_that_never_answers_times_out(client, monkeypatch):
    monkeypatch.setattr(proxies, "TIMEOUT", 0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()                     # accepts connections, never answers
        add(client, f"http://127.0.0.1:{silent.getsockname()[1]}")
        r = client.get("/api/orchestrators/h1/version")
    assert (r.status_code, r.get_json()) == (502, {
        "error": "orchestrator h1 API did not answer within 0.3 s"})


def test_a_slow_drip_cannot_hold_past_the_deadline(client, monkeypatch):
    """Headers at once, then a byte at a time: the deadline covers the whole body."""
    monkeypatch.setattr(proxies, "TIMEOUT", 0.5)
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def drip():
        peer, _ = listener.accept()
        peer.recv(65536)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        while not stop.wait(0.1):
            try:
                peer.sendall(b" ")
            except OSError:
                break
        peer.close()
    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    add(client, f"http://127.0.0.1:{listener.getsockname()[1]}")
    r = client.get("/api/orchestrators/h1/version")
    stop.set()
    thread.join(5)
    listener.close()
    assert (r.status_code, r.get_json()) == (502, {
        "error": "orchestrator h1 API did not answer within 0.5 s"})


def test_an_event_stream_is_streamed_through_on_a_slot(live, upstream):
    assert live.request("POST", "/api/orchestrators", {"id": "h1", "apiUrl": upstream})[0] == 201
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/api/orchestrators/h1/logs/stream")
    response = conn.getresponse()
    assert (response.status, response.getheader("Content-Type")) == (200, "text/event-stream")
    assert response.read1(65536) == b"data: one\n\n"       # before the stream has ended
    assert live.request("GET", "/api/health")[1]["streams"]["sse"] == 1
    Upstream.release.set()
    assert response.read() == b"data: two\n\n"
    conn.close()
    for _ in range(100):
        if live.request("GET", "/api/health")[1]["streams"]["sse"] == 0:
            break
        threading.Event().wait(0.05)
    assert live.request("GET", "/api/health")[1]["streams"]["sse"] == 0


def test_no_slot_is_503(live_factory, upstream):
    live = live_factory(max_streams=0)
    live.request("POST", "/api/orchestrators", {"id": "h1", "apiUrl": upstream})
    status, body = live.request("GET", "/api/orchestrators/h1/logs/stream")
    assert (status, body) == (503, {"error": "no stream slot free; retry shortly"})
    assert live.request("GET", "/api/orchestrators/h1/version")[0] == 200


def test_a_host_that_cannot_be_encoded_is_502(client):
    add(client, "http://" + "a" * 70 + ".example")        # an idna label over 63 characters
    r = client.get("/api/orchestrators/h1/version")
    assert r.status_code == 502
    assert r.get_json()["error"].startswith("orchestrator h1 API is unreachable: ")


def test_shutdown_ends_a_proxied_stream_waiting_on_its_orchestrator(live_factory, upstream):
    live = live_factory()
    live.request("POST", "/api/orchestrators", {"id": "h1", "apiUrl": upstream})
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/api/orchestrators/h1/logs/stream")
    response = conn.getresponse()
    assert response.read1(65536) == b"data: one\n\n"      # the orchestrator now says nothing
    live.stop()
    assert not live.thread.is_alive()
    assert live.relay.stream_closers == set()
    assert live.relay.slots.snapshot()["sse"] == 0
    conn.close()
