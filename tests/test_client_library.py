"""relay.client against a real relay on a free port: calls, errors, long polls, events."""
import socket
import subprocess
import sys
import threading
import time

import pytest

from relay.client import Client, RelayError, Unreachable


@pytest.fixture
def api(live):
    client = Client(f"http://127.0.0.1:{live.port}", timeout=5)
    yield client
    client.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_import_is_light():
    code = ("import sys, relay.client, relay.cli; "
            "heavy = [m for m in ('flask', 'pydantic', 'werkzeug', 'mcp', 'relay.server.app',"
            " 'relay.server.db') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_server_never_imports_the_mcp_sdk(tmp_path):
    code = (f"import sys, relay; relay.create_app({{'RELAY_DB': {str(tmp_path / 'x.db')!r}}}); "
            "import relay.server; print([m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_create_app_is_still_importable_from_the_package():
    from relay import create_app
    from relay.server.app import create_app as factory
    assert create_app is factory


def test_calls_and_keep_alive(api):
    agent = api.register("alice", label="Alice", tags=["x"])
    assert (agent["id"], agent["label"], agent["tags"]) == ("alice", "Alice", ["x"])
    api.register("bob")
    sent = api.send("alice", "bob", "hello", subject="hi", claimable=True)
    assert (sent["to"], sent["deliveryStatus"], sent["claimable"]) == ("bob", "delivered", True)
    conn = api.local.conn
    assert [m["id"] for m in api.inbox("bob")] == [sent["id"]]
    assert api.local.conn is conn                 # the same keep-alive connection
    assert api.claim(sent["id"], "bob", ttl=60)["claimedBy"] == "bob"
    assert api.thread(sent["id"])[0]["id"] == sent["id"]
    assert [a["id"] for a in api.agents()] == ["alice", "bob"]
    assert api.latest_message_id() == sent["id"]


def test_an_error_answer_is_a_relay_error_with_the_sentence(api):
    with pytest.raises(RelayError) as caught:
        api.call("GET", "/api/agents/nobody")
    assert caught.value.status == 404
    assert caught.value.message == "agent nobody not found"
    with pytest.raises(RelayError) as caught:
        api.send("a", "b", "x", claimTtlSeconds=0)
    assert caught.value.status in (400, 404)
    assert caught.value.message


def test_unreachable_names_the_url():
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(Unreachable) as caught:
        client.health()
    assert caught.value.url == f"http://127.0.0.1:{port}"
    assert "refused" in caught.value.reason.lower()


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RELAY_URL", "http://example.invalid:9/")
    monkeypatch.setenv("AGENT_RELAY_TOKEN", "t0k")
    client = Client()
    assert (client.url, client.token, client.port) == ("http://example.invalid:9", "t0k", 9)
    assert client.headers()["X-Agent-Relay-Token"] == "t0k"


def test_long_poll_answers_when_a_message_arrives(api, live):
    api.register("bob")
    threading.Timer(0.5, lambda: live.request(
        "POST", "/api/messages", {"from": "alice", "to": "bob", "body": "late"})).start()
    started = time.monotonic()
    got = api.inbox("bob", wait=20)
    assert [m["body"] for m in got] == ["late"]
    assert time.monotonic() - started < 15


def test_events_resume_from_an_id(api):
    api.register("bob")
    first = api.send("alice", "bob", "one")
    api.send("alice", "bob", "two")
    frames = api.events(types=["message.new"], since=0, reconnect=False)
    seen = [next(frames), next(frames)]
    frames.close()
    assert [(t, e["data"]["body"]) for _, t, e in seen] == [("message.new", "one"),
                                                            ("message.new", "two")]
    again = api.events(types=["message.new"], since=seen[0][0], reconnect=False)
    resumed = next(again)
    again.close()
    assert resumed[0] == seen[1][0] and resumed[2]["data"]["id"] == first["id"] + 1
