"""The event streams against a real waitress server: SSE, resume, filters, slow consumers."""
import http.client
import json
import socket
import threading
import time

import pytest

from relay.server.broadcaster import CLOSED, RESET, Broadcaster, Filter, Subscription
from relay.server.store.event_log import Envelope

from .sse import SSE


def post(live, path, body):
    status, answer = live.request("POST", path, body)
    assert status in (200, 201), answer
    return answer


def test_events_arrive_in_order_with_names(live):
    stream = SSE(live.port)
    assert stream.status == 200
    assert stream.response.getheader("Content-Type").startswith("text/event-stream")
    assert stream.frame() == {"comment": "connected"}
    post(live, "/api/agents", {"id": "a"})
    for i in range(5):
        post(live, "/api/messages", {"from": "z", "to": "a", "body": str(i)})
    events = stream.events(7)
    assert [name for name, _ in events] == ["agent.status", "activity.created"] + ["message.new"] * 5
    assert [e["id"] for _, e in events] == list(range(1, 8))
    assert [e["data"]["body"] for _, e in events[2:]] == ["0", "1", "2", "3", "4"]
    assert all(name == e["type"] for name, e in events)
    stream.close()


def test_sse_frames_carry_ids(live):
    stream = SSE(live.port)
    post(live, "/api/agents", {"id": "a"})
    stream.frame()
    frame = stream.frame()
    assert frame["id"] == "1" and frame["event"] == "agent.status"
    assert json.loads(frame["data"])["subject"] == "a"
    stream.close()


def test_keepalive_comment(live):
    stream = SSE(live.port)
    assert stream.frame() == {"comment": "connected"}
    assert stream.frame() == {"comment": "keepalive"}       # RELAY_KEEPALIVE is 0.5 s here
    stream.close()


def test_agent_filter_lets_through_exactly_its_concerns(live):
    post(live, "/api/agents", {"id": "me", "tags": ["py"], "label": "lead", "capabilities": ["ci"]})
    post(live, "/api/agents", {"id": "other", "tags": ["go"]})
    stream = SSE(live.port, "/api/events?agentId=me")
    sent = {}
    for to in ("me", "other", "tag:py", "tag:go", "label:lead", "cap:ci", "cap:none", "broadcast"):
        sent[to] = post(live, "/api/messages", {"from": "x", "to": to, "body": to})["id"]
    post(live, "/api/messages", {"from": "me", "to": "other", "body": "from me"})
    post(live, "/api/agents/other/heartbeat", {"status": "busy"})   # not its concern
    post(live, "/api/agents/me/heartbeat", {"status": "busy"})      # its own status
    post(live, "/api/activity", {"kind": "note", "title": "unrelated"})
    post(live, "/api/messages", {"from": "x", "to": "me", "body": "last"})
    events = stream.until(lambda name, e: e["data"].get("body") == "last")
    seen = [(name, e["data"].get("body") or e["data"].get("status")) for name, e in events]
    assert seen == [("message.new", "me"), ("message.new", "tag:py"), ("message.new", "label:lead"),
                    ("message.new", "cap:ci"), ("message.new", "broadcast"),
                    ("message.new", "from me"), ("agent.status", "busy"), ("message.new", "last")]
    stream.close()


def test_agent_filter_follows_tag_changes(live):
    post(live, "/api/agents", {"id": "me"})
    stream = SSE(live.port, "/api/events?agentId=me&types=message.,agent.")
    post(live, "/api/messages", {"from": "x", "to": "tag:new", "body": "before"})
    live.request("PATCH", "/api/agents/me", {"tags": ["new"]})
    post(live, "/api/messages", {"from": "x", "to": "tag:new", "body": "after"})
    events = stream.events(2)
    assert [(n, e["data"].get("body")) for n, e in events] == [("agent.status", None),
                                                               ("message.new", "after")]
    stream.close()


def test_types_filter(live):
    stream = SSE(live.port, "/api/events?types=message.")
    post(live, "/api/agents", {"id": "a"})
    m = post(live, "/api/messages", {"from": "z", "to": "a", "body": "x", "claimable": True})
    post(live, f"/api/messages/{m['id']}/claim", {"agentId": "a"})
    assert [n for n, _ in stream.events(2)] == ["message.new", "message.claimed"]
    stream.close()


def test_unknown_agent_filter_is_404(live):
    stream = SSE(live.port, "/api/events?agentId=nobody")
    assert stream.status == 404
    assert json.loads(stream.response.read()) == {"error": "agent nobody not found"}


def test_resume_has_no_gap_and_no_duplicate(live):
    """A publisher runs throughout; the client disconnects and resumes many times."""
    post(live, "/api/agents", {"id": "a"})
    total = 300

    def publisher():
        for i in range(total):
            post(live, "/api/messages", {"from": "z", "to": "a", "body": str(i)})

    threading.Thread(target=publisher, daemon=True).start()
    seen = []
    while len(seen) < total:
        resume = {"Last-Event-ID": str(seen[-1])} if seen else {}
        stream = SSE(live.port, "/api/events?types=message." + ("" if seen else "&since=0"),
                     headers=resume)
        seen += [envelope["id"] for _, envelope in stream.events(min(17, total - len(seen)))]
        stream.close()
    assert len(seen) == len(set(seen)) == total
    recent = [e["id"] for e in live.request("GET", "/api/events/recent?types=message.&limit=500")[1]]
    assert seen == recent


def test_since_query_replays(live):
    post(live, "/api/agents", {"id": "a"})
    for i in range(3):
        post(live, "/api/messages", {"from": "z", "to": "a", "body": str(i)})
    stream = SSE(live.port, "/api/events?since=3")
    assert [e["id"] for _, e in stream.events(2)] == [4, 5]
    post(live, "/api/messages", {"from": "z", "to": "a", "body": "live"})
    assert [e["data"]["body"] for _, e in stream.events(1)] == ["live"]
    stream.close()


def test_a_send_made_after_connected_reaches_the_stream_however_late_it_goes_on(live,
                                                                              monkeypatch):
    """`: connected` means live: a send the client makes once it read it reaches
    it, even when the stream's thread goes on only after that send committed
    (on PostgreSQL it used to read where live starts only then, and skip it)."""
    from relay.server.api import streams
    follow, sent = streams.follow, threading.Event()

    def late(*args, **kwargs):
        assert sent.wait(30)
        yield from follow(*args, **kwargs)
    monkeypatch.setattr(streams, "follow", late)
    post(live, "/api/agents", {"id": "a"})
    stream = SSE(live.port, "/api/events?types=message.")
    assert stream.frame() == {"comment": "connected"}
    message = post(live, "/api/messages", {"from": "z", "to": "a", "body": "after connected"})
    sent.set()
    [(name, event)] = stream.events(1)
    assert (name, event["data"]["id"]) == ("message.new", message["id"])
    stream.close()


def test_a_stream_that_cannot_read_where_it_starts_is_500_and_frees_its_slot(live, monkeypatch):
    """On PostgreSQL a stream live from now reads where it starts before it
    answers (streaming.subscribe): when that read fails, it is refused and
    holds neither a slot nor a subscription."""
    if not live.relay.shared:
        pytest.skip("one process on SQLite: a stream live from now reads nothing")
    from relay.server import streaming

    def unreadable(r):
        raise RuntimeError("the event log is unreadable")
    monkeypatch.setattr(streaming, "latest_event_id", unreadable)
    stream = SSE(live.port, "/api/events?types=message.")
    assert stream.status == 500
    assert json.loads(stream.response.read())["error"] == "internal error"
    assert live.request("GET", "/api/health")[1]["streams"]["sse"] == 0
    assert live.relay.broadcaster.subscriber_count() == 0
    stream.close()


def test_bad_last_event_id(live):
    stream = SSE(live.port, headers={"Last-Event-ID": "abc"})
    assert stream.status == 400
    assert json.loads(stream.response.read()) == {"error": "Last-Event-ID or since must be a non-negative integer id"}


def test_reset_when_older_than_retention(live_factory):
    live = live_factory(event_retention=5)
    post(live, "/api/agents", {"id": "a"})
    for i in range(10):
        post(live, "/api/messages", {"from": "z", "to": "a", "body": str(i)})
    assert live.request("POST", "/api/system/reap")[1]["trimmedEvents"] == 7
    stream = SSE(live.port, headers={"Last-Event-ID": "2"})
    stream.frame()
    reset = stream.frame()
    assert reset["event"] == "reset" and "id" not in reset
    assert json.loads(reset["data"]) == {"reason": "retention", "lastEventId": 2, "firstKeptId": 8}
    assert [e["id"] for _, e in stream.events(5)] == [8, 9, 10, 11, 12]
    stream.close()
    fresh = SSE(live.port, headers={"Last-Event-ID": "7"})
    fresh.frame()
    assert "event" in fresh.frame() and fresh.frame()["id"] == "9"
    fresh.close()


def test_stalled_subscriber_is_dropped_others_keep_receiving(live_factory):
    live = live_factory(subscriber_queue=20, keepalive=30)
    post(live, "/api/agents", {"id": "a"})
    # A client that connects and never reads: its socket buffers, then waitress's
    # (256 KiB), then its 20-event queue fill up.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)   # before connect: sets the window
    stalled.connect(("127.0.0.1", live.port))
    stalled.sendall(b"GET /api/events?types=message. HTTP/1.1\r\nHost: localhost\r\n\r\n")
    healthy = SSE(live.port, "/api/events?types=message.")
    healthy.frame()
    count, received = 150, []
    reader = threading.Thread(
        target=lambda: received.extend(e["data"]["subject"] for _, e in healthy.events(count, 60)))
    reader.start()
    body = "x" * 60000
    for i in range(count):
        post(live, "/api/messages", {"from": "z", "to": "a", "body": body, "subject": str(i)})
    reader.join(60)
    assert received == [str(i) for i in range(count)]
    # The stalled reader's stream ends with a reset frame; read what it was sent.
    stalled.settimeout(10)
    data = b""
    while chunk := stalled.recv(1 << 20):
        data += chunk
    assert b"event: reset" in data
    assert b'"reason": "slow consumer"' in data
    assert data.count(b"event: message.new") < count
    healthy.close()
    stalled.close()


def test_broadcaster_drops_only_the_overflowing_subscriber():
    broadcaster = Broadcaster(queue_size=3)
    broadcaster.start()
    slow = broadcaster.subscribe(Filter())
    fast = broadcaster.subscribe(Filter())
    got = []
    for i in range(1, 6):
        broadcaster.submit([(Envelope(id=i, type="x.y", subject=None, data={}), None)])
        got += [item["id"] for item in fast.take(2)]
    assert got == [1, 2, 3, 4, 5]
    deadline = time.monotonic() + 2
    while broadcaster.subscriber_count() != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow.take(0) == RESET
    assert broadcaster.subscriber_count() == 1
    broadcaster.stop()
    assert fast.take(0) == CLOSED


def test_broadcaster_survives_a_broken_filter():
    class Broken(Filter):
        def wants(self, envelope, scope):
            raise ValueError("bad filter")
    broadcaster = Broadcaster()
    broadcaster.start()
    bad = broadcaster.subscribe(Broken())
    good = broadcaster.subscribe(Filter())
    broadcaster.submit([(Envelope(id=1, type="t", subject=None, data={}), None)])
    assert [e["id"] for e in good.take(2)] == [1]
    assert bad.take(2) == CLOSED
    broadcaster.stop()


def test_a_held_offer_and_those_after_it_wait_for_release():
    # What the stream receipts worker holds (stream_receipts.py): nothing is
    # handed over before it is released, and nothing overtakes it meanwhile.
    subscription = Subscription(Filter(), maxsize=10)
    assert subscription.offer([Envelope(id=1, type="x", subject=None, data={})], hold=True)
    assert subscription.offer([Envelope(id=2, type="x", subject=None, data={})])
    assert subscription.take(0) == []
    subscription.release()
    assert [e["id"] for e in subscription.take(0)] == [1, 2]


class RecordingSink:
    """A lent sink (Subscription.take) that takes every write whole and keeps it."""

    def __init__(self):
        self.written = []
        self.lent = threading.Event()

    @staticmethod
    def encode(envelopes):
        return ",".join(str(e["id"]) for e in envelopes).encode()

    def send_some(self, data):
        self.written.append(data)
        self.lent.set()
        return len(data)


def waiting_with_a_lent_sink():
    """A subscription whose taker, on its own thread, waits with a sink lent."""
    subscription = Subscription(Filter(), maxsize=10)
    sink, taken = RecordingSink(), []
    waiting = threading.Thread(target=lambda: taken.extend(
        subscription.take(0.01, sink=sink, keepalive=b"k")))
    waiting.start()
    return subscription, sink, taken, waiting


def test_an_offer_right_after_a_release_does_not_overtake_the_released_events():
    # A release wakes the stream's thread to take the held events; an offer
    # made before it runs must queue behind them, not go straight to the
    # sink still lent: it would overtake them, and follow() would then skip
    # them as already sent (ids up to sent_id).
    subscription, sink, taken, waiting = waiting_with_a_lent_sink()
    assert sink.lent.wait(10)               # a keepalive went out: it waits, the sink lent
    assert subscription.offer([Envelope(id=1, type="x", subject=None, data={})], hold=True)
    with subscription._cond:                # the thread, woken, runs only after both
        subscription.release()
        assert subscription.offer([Envelope(id=2, type="x", subject=None, data={})])
    waiting.join(10)
    assert [e["id"] for e in taken] == [1, 2]
    assert set(sink.written) == {b"k"}
    assert subscription.sent_id == 0


def test_bytes_owed_go_out_before_anything_else_even_while_an_offer_is_held():
    # A write the socket took only in part leaves the rest of its frame owed;
    # a held offer coming next must not keep it back, or let a keepalive go
    # through the sink meanwhile: that would land inside the frame begun.
    subscription, sink, taken, waiting = waiting_with_a_lent_sink()
    assert sink.lent.wait(10)
    sink.send_some = lambda data: sink.written.append(data[:1]) or 1    # the socket is full
    with subscription._cond:
        assert subscription.offer([Envelope(id=10, type="x", subject=None, data={})])
        assert subscription.offer([Envelope(id=11, type="x", subject=None, data={})], hold=True)
    waiting.join(10)
    assert taken == [b"0"]                  # the rest of "10", alone: 11 is held
    assert sink.written[-1] == b"1"         # and nothing went through the sink after its start


def test_recent_events(live):
    post(live, "/api/agents", {"id": "a", "tags": ["t"]})
    post(live, "/api/agents", {"id": "b"})
    post(live, "/api/messages", {"from": "z", "to": "tag:t", "body": "1"})
    post(live, "/api/messages", {"from": "z", "to": "b", "body": "2"})
    _, all_events = live.request("GET", "/api/events/recent")
    assert [e["type"] for e in all_events] == ["agent.status", "activity.created"] * 2 + ["message.new"] * 2
    _, mine = live.request("GET", "/api/events/recent?agentId=a&types=message.")
    assert [e["data"]["body"] for e in mine] == ["1"]
    _, page = live.request("GET", "/api/events/recent?since=2&limit=2")
    assert [e["id"] for e in page] == [3, 4]
    assert live.request("GET", "/api/events/recent?limit=0")[0] == 400


# --- stream slots and the long poll --------------------------------------------------

def test_slot_limit(live_factory):
    live = live_factory(max_streams=2, keepalive=0.2)
    post(live, "/api/agents", {"id": "a"})
    first, second = SSE(live.port), SSE(live.port)
    assert (first.status, second.status) == (200, 200)
    assert live.request("GET", "/api/health")[1]["streams"] == {"sse": 2, "ws": 0, "poll": 0, "max": 2}
    third = SSE(live.port)
    assert third.status == 503
    assert third.response.getheader("Retry-After") == "2"
    assert json.loads(third.response.read()) == {"error": "no stream slot free; retry shortly"}
    status, body = live.request("GET", "/api/messages?for=a&wait=5")
    assert (status, body) == (503, {"error": "no stream slot free for a long poll"})
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
    conn.request("GET", "/api/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                            "Sec-WebSocket-Version": "13"})
    assert conn.getresponse().status == 503
    conn.close()
    # Ordinary requests still find a thread.
    assert live.request("GET", "/api/agents")[0] == 200
    first.close()
    deadline = time.monotonic() + 5       # the hang-up watch notices the gone client
    while live.request("GET", "/api/health")[1]["streams"]["sse"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    again = SSE(live.port)
    assert again.status == 200
    again.close()
    second.close()


def test_long_poll_wakes_on_send(live):
    post(live, "/api/agents", {"id": "a", "tags": ["t"]})
    result = {}

    def poll():
        started = time.monotonic()
        result["answer"] = live.request("GET", "/api/messages?for=a&wait=30")
        result["seconds"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    deadline = time.monotonic() + 5
    while live.request("GET", "/api/health")[1]["streams"]["poll"] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    post(live, "/api/messages", {"from": "a", "to": "tag:t", "body": "own: ignored"})
    sent_at = time.monotonic()
    post(live, "/api/messages", {"from": "z", "to": "tag:t", "body": "wake"})
    poller.join(10)
    status, messages = result["answer"]
    assert status == 200
    assert [m["body"] for m in messages] == ["wake"]
    # Woken by the send, long before the 30 s deadline.
    assert result["seconds"] < 10
    assert time.monotonic() - sent_at < 10
    assert live.request("GET", "/api/health")[1]["streams"]["poll"] == 0


def test_long_poll_answers_at_once_when_something_waits(live):
    post(live, "/api/agents", {"id": "a"})
    post(live, "/api/messages", {"from": "z", "to": "a", "body": "waiting"})
    status, messages = live.request("GET", "/api/messages?for=a&wait=30")
    assert (status, [m["body"] for m in messages]) == (200, ["waiting"])


def test_long_poll_empty_at_deadline(live):
    post(live, "/api/agents", {"id": "a"})
    post(live, "/api/agents", {"id": "b"})
    started = time.monotonic()
    post(live, "/api/messages", {"from": "z", "to": "b", "body": "not for a"})
    status, messages = live.request("GET", "/api/messages?for=a&wait=1")
    assert (status, messages) == (200, [])
    assert time.monotonic() - started >= 1


def test_sse_needs_the_token_and_takes_it_in_the_query(live_factory):
    live = live_factory(token="tok")
    refused = SSE(live.port)
    assert refused.status == 401
    refused.close()
    stream = SSE(live.port, "/api/events?token=tok")
    assert stream.status == 200 and stream.frame() == {"comment": "connected"}
    stream.close()
    assert live.request("GET", "/api/health")[0] == 200


def test_gone_clients_leave_no_descriptors_or_slots(live):
    import os

    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    post(live, "/api/agents", {"id": "a"})
    before = open_fds()
    streams = [SSE(live.port) for _ in range(30)]
    assert all(s.frame() == {"comment": "connected"} for s in streams)
    for stream in streams:
        stream.close()
    deadline = time.monotonic() + 10      # the hang-up watch finds them gone
    while live.request("GET", "/api/health")[1]["streams"]["sse"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.request("GET", "/api/health")[1]["streams"]["sse"] == 0
    time.sleep(0.2)
    assert open_fds() <= before + 2


def test_agent_view_reads_its_own_events_with_the_addresses_it_had(live):
    # agentId reads through event_targets: what it answers must be exactly
    # what filtering the whole log would, across batches (more than
    # REPLAY_BATCH unrelated events in between) and tag changes on the way.
    post(live, "/api/agents", {"id": "me", "tags": ["py"]})
    post(live, "/api/agents", {"id": "other", "tags": ["go"]})
    for to in ("me", "other", "tag:py", "tag:go", "broadcast"):
        post(live, "/api/messages", {"from": "x", "to": to, "body": "1 " + to})
    for i in range(520):
        post(live, "/api/messages", {"from": "x", "to": "other", "body": "noise"})
    live.request("PATCH", "/api/agents/me", {"tags": ["go"]})
    for to in ("tag:go", "tag:py"):
        post(live, "/api/messages", {"from": "x", "to": to, "body": "2 " + to})
    claimable = post(live, "/api/messages", {"from": "x", "to": "other", "body": "claimed",
                                             "claimable": True})
    post(live, f"/api/messages/{claimable['id']}/claim", {"agentId": "me"})
    expected = [("agent.status", ["py"]), ("message.new", "1 me"), ("message.new", "1 tag:py"),
                ("message.new", "1 broadcast"), ("agent.status", ["go"]),
                ("message.new", "2 tag:go"), ("message.claimed", "claimed")]

    def seen(events):
        return [(e["type"], e["data"]["tags"] if e["type"] == "agent.status" else e["data"]["body"])
                for e in events]
    status, mine = live.request("GET", "/api/events/recent?agentId=me&types=message.,agent.status"
                                       "&limit=500")
    assert status == 200 and seen(mine) == expected
    _, first = live.request("GET", "/api/events/recent?agentId=me&types=message.,agent.status&limit=3")
    assert first == mine[:3]
    # A stream resumed from 0 with agentId replays the same, then goes live.
    stream = SSE(live.port, "/api/events?agentId=me&types=message.,agent.status&since=0")
    assert seen(e for _, e in stream.events(len(expected))) == expected
    post(live, "/api/messages", {"from": "x", "to": "me", "body": "live"})
    assert seen(e for _, e in stream.events(1)) == [("message.new", "live")]
    stream.close()
