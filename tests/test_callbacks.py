"""Task callbacks: owed in the status change's transaction, sent by
the callback worker to a real local HTTP server, retried with backoff, in order."""
import json
import queue
import socket
import threading
import time

import pytest

from relay.server import create_app
from relay.server.settings import Settings

from .conftest import register
from .receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def open_task(client, url, **fields):
    r = client.post("/api/tasks", json={"title": "disk 95 % on db-2", "callbackUrl": url,
                                        **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def deliveries(client, task_id):
    r = client.get(f"/api/tasks/{task_id}/deliveries")
    assert r.status_code == 200
    return r.get_json()


def eventually(check, timeout=5.0):
    """Wait for another thread's commit (bounded; returns as soon as it holds)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_status_change_posts_the_task(client, relay_, receiver, clock):
    register(client, "a")
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/events", json={"note": "looking"})
    assert deliveries(client, t["id"]) == []       # opening and notes change no status
    claimed = client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "a"}).get_json()
    [owed] = deliveries(client, t["id"])
    assert owed == {"id": 1, "taskId": t["id"], "event": "task.updated", "url": receiver.url,
                    "status": "pending", "attempts": 0, "nextAttemptAt": clock(),
                    "lastError": None, "responseStatus": None, "createdAt": clock(),
                    "deliveredAt": None}
    assert relay_.callbacks.run_once() == 1
    got = receiver.take()
    assert got["path"] == "/hook"
    assert got["json"] == {"event": "task.updated", "task": claimed}
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["X-Relay-Event"] == "task.updated"
    assert "X-Relay-Signature" not in got["headers"]      # no integration secret
    [done] = deliveries(client, t["id"])
    assert (done["status"], done["attempts"], done["responseStatus"], done["deliveredAt"],
            done["nextAttemptAt"]) == ("delivered", 1, 200, clock(), None)
    assert relay_.callbacks.run_once() == 0
    # A re-claim that only extends and a note on it owe nothing; a resolve does.
    client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "a"})
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved", "result": {"ok": 1}})
    assert relay_.callbacks.run_once() == 1
    task = receiver.take()["json"]["task"]
    assert (task["status"], task["result"]) == ("resolved", {"ok": 1})


def test_reaper_release_owes_a_callback(client, relay_, receiver, clock):
    register(client, "a")
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "a", "ttlSeconds": 1})
    clock.advance(1)
    assert client.post("/api/system/reap").get_json()["releasedTaskIds"] == [t["id"]]
    assert relay_.callbacks.run_once() == 1
    assert relay_.callbacks.run_once() == 1
    assert [receiver.take()["json"]["task"]["status"] for _ in range(2)] == ["claimed", "open"]


def test_a_500_is_retried_after_the_backoff(client, relay_, clock):
    receiver = Receiver([500, 200])
    try:
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        assert relay_.callbacks.run_once() == 1
        first = receiver.take()
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["lastError"], d["responseStatus"],
                d["nextAttemptAt"]) == ("pending", 1, "HTTP 500", 500, clock() + 1000)
        clock.advance(0.999)
        assert relay_.callbacks.run_once() == 0
        clock.advance(0.001)
        assert relay_.callbacks.run_once() == 1
        second = receiver.take()
        assert second["raw"] == first["raw"]          # the same bytes again
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["responseStatus"], d["deliveredAt"]) == (
            "delivered", 2, 200, clock())
    finally:
        receiver.close()


def test_retried_with_doubling_backoff_for_the_retry_window_then_failed(db_path, clock):
    app = create_app(Settings(db=db_path, callback_retry_for=30), clock)
    relay_, client = app.extensions["relay"], app.test_client()
    receiver = Receiver(default=503)
    try:
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "failed"})
        waits = []
        for _ in range(5):
            assert relay_.callbacks.run_once() == 1
            receiver.take()
            [d] = deliveries(client, t["id"])
            if d["status"] == "pending":
                waits.append(d["nextAttemptAt"] - clock())
                clock.advance(waits[-1] / 1000)
        # Tries at 0, 1, 3, 7 and 15 s; the next would be at 31 s, past the 30 s window.
        assert waits == [1000, 2000, 4000, 8000]
        assert (d["status"], d["attempts"], d["lastError"]) == ("failed", 5, "HTTP 503")
        clock.advance(3600)
        assert relay_.callbacks.run_once() == 0 and receiver.nothing_more()
    finally:
        receiver.close()
        relay_.stop()


def test_the_default_window_outlasts_a_day_long_outage_at_five_minutes_apart(relay_):
    assert relay_.callbacks.retry_for == 86400
    assert relay_.settings.callback_retry_for == 86400


def test_a_receiver_down_for_a_minute_then_up_gets_its_callbacks(client, relay_, clock):
    """Point 9 of the issue: 5 retries from 1 s gave up after 31 s."""
    first = Receiver()
    port = first.server.server_address[1]
    first.close()                                     # down
    t = open_task(client, f"http://127.0.0.1:{port}/hook")
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
    down_until = clock() + 60_000
    while clock() < down_until:
        assert relay_.callbacks.run_once() == 1
        [d] = deliveries(client, t["id"])
        assert d["status"] == "pending", d
        clock.advance((d["nextAttemptAt"] - clock()) / 1000)
    assert d["attempts"] == 6 and "refused" in d["lastError"].lower()     # 0, 1, 3, 7, 15, 31 s
    again = Receiver(port=port)                       # up
    try:
        assert relay_.callbacks.run_once() == 1
        assert again.take()["json"]["task"]["status"] == "resolved"
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["lastError"]) == ("delivered", 7, None)
    finally:
        again.close()


def test_a_failed_delivery_is_sent_again_on_request(client, relay_, clock):
    receiver = Receiver([404])
    try:
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        relay_.callbacks.run_once()
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"]) == ("failed", 1)
        first = receiver.take()
        r = client.post(f"/api/tasks/{t['id']}/deliveries/{d['id']}/retry")
        assert r.status_code == 200
        assert (r.get_json()["status"], r.get_json()["nextAttemptAt"]) == ("pending", clock())
        r = client.post(f"/api/tasks/{t['id']}/deliveries/{d['id']}/retry")
        assert (r.status_code, r.get_json()) == (409, {
            "error": f"delivery {d['id']} is pending: only a failed delivery can be retried"})
        assert relay_.callbacks.run_once() == 1
        assert receiver.take()["raw"] == first["raw"]        # the same bytes again
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["responseStatus"]) == ("delivered", 2, 200)
        r = client.post(f"/api/tasks/{t['id']}/deliveries/{d['id']}/retry")
        assert r.status_code == 409 and "is delivered" in r.get_json()["error"]
        r = client.post(f"/api/tasks/{t['id']}/deliveries/{d['id'] + 1}/retry")
        assert (r.status_code, r.get_json()) == (404, {
            "error": f"task {t['id']} has no delivery {d['id'] + 1}"})
        assert client.post(f"/api/tasks/{t['id'] + 1}/deliveries/{d['id']}/retry"
                           ).status_code == 404
    finally:
        receiver.close()


def test_a_url_http_client_cannot_send_is_one_recorded_failure_not_a_spin(
        client, relay_, clock, caplog):
    """Point 1 of the issue: http://127.0.0.1:9/\u00e9 (written raw, as an older relay
    did) made http.client raise UnicodeEncodeError; the delivery was handed out
    again at once, forever, and held the task's later callbacks."""
    receiver = Receiver()
    try:
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked"})
        relay_.committer.commit(lambda c: (c.execute(
            "UPDATE callback_deliveries SET url = 'http://127.0.0.1:9/\u00e9'"), []))
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        relay_.callbacks.start()
        # The task's second delivery (to the receiver) goes out after the first failed.
        assert receiver.take()["json"]["task"]["status"] == "resolved"
        eventually(lambda: [d["status"] for d in deliveries(client, t["id"])] == [
            "failed", "delivered"])
        time.sleep(0.3)           # the worker keeps looking (every wake and each second)
        relay_.callbacks.stop()
        bad, good = deliveries(client, t["id"])
        assert (bad["attempts"], bad["responseStatus"]) == (1, None)
        assert bad["lastError"].startswith("cannot be sent: UnicodeEncodeError")
        lines = [r for r in caplog.records if r.name == "relay.callbacks"]
        assert len(lines) == 1 and "(failed)" in lines[0].getMessage()
    finally:
        relay_.callbacks.stop()
        receiver.close()


def test_a_non_ascii_url_is_stored_encoded_and_sent(client, relay_):
    receiver = Receiver()
    try:
        t = open_task(client, receiver.url.replace("/hook", "/h\u00e9?q=\u00e4"))
        assert t["callbackUrl"] == receiver.url.replace("/hook", "/h%C3%A9?q=%C3%A4")
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        relay_.callbacks.run_once()
        assert receiver.take()["path"] == "/h%C3%A9?q=%C3%A4"
    finally:
        receiver.close()


def test_an_idn_host_is_stored_in_punycode(client):
    r = client.post("/api/tasks", json={"title": "t",
                                        "callbackUrl": "https://B\u00fccher.example/x#frag"})
    assert r.status_code == 201 and r.get_json()["callbackUrl"] == \
        "https://xn--bcher-kva.example/x"


def test_backoff_is_capped_at_five_minutes(relay_):
    assert [relay_.callbacks.backoff(n) for n in (1, 2, 3, 9, 10, 30)] == [
        1, 2, 4, 256, 300, 300]


@pytest.mark.parametrize("status", [400, 404, 410, 302])
def test_other_answers_are_not_retried(client, relay_, clock, status):
    receiver = Receiver([status])
    try:
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "cancelled"})
        assert relay_.callbacks.run_once() == 1
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["responseStatus"], d["lastError"]) == (
            "failed", 1, status, f"HTTP {status}")
        clock.advance(3600)
        assert relay_.callbacks.run_once() == 0
    finally:
        receiver.close()


def test_network_errors_and_timeouts_are_retried(client, relay_, clock):
    t = open_task(client, f"http://127.0.0.1:{closed_port()}/hook")
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked"})
    relay_.callbacks.run_once()
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"], d["responseStatus"]) == ("pending", 1, None)
    assert "refused" in d["lastError"].lower()

    slow = Receiver([None])
    try:
        relay_.callbacks.timeout = 0.2
        t = open_task(client, slow.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked"})
        relay_.callbacks.run_once()
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["lastError"]) == ("pending", 1, "timed out")
    finally:
        slow.close()


def dripping_receiver(seconds: float) -> socket.socket:
    """Answers 200 a byte at a time, 50 ms apart, for `seconds`: every read is
    quick, the whole answer is not."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as request:
            length = 0
            while (line := request.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            request.read(length)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(int(seconds / 0.05)):
                    time.sleep(0.05)
                    conn.sendall(b"a")
                conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass                                   # the relay hung up
    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_try_is_cut_at_the_timeout_even_when_the_answer_drips(client, relay_):
    """A try never outlasts its lease (a delivery would be taken again while sent)."""
    server = dripping_receiver(5)
    try:
        relay_.callbacks.timeout = 0.2
        t = open_task(client, f"http://127.0.0.1:{server.getsockname()[1]}/hook")
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked"})
        assert relay_.callbacks.run_once() == 1
        [d] = deliveries(client, t["id"])
        assert (d["status"], d["attempts"], d["lastError"]) == ("pending", 1, "timed out")
    finally:
        server.close()


def test_a_tasks_callbacks_go_out_in_order(client, relay_, clock):
    receiver = Receiver([500])
    try:
        register(client, "a")
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "a"})
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        assert relay_.callbacks.run_once() == 1          # only the first is due for this task
        assert receiver.take()["json"]["task"]["status"] == "claimed"
        assert relay_.callbacks.run_once() == 0          # the second waits behind the retry
        clock.advance(1)
        assert relay_.callbacks.run_once() == 1
        assert relay_.callbacks.run_once() == 1
        assert [receiver.take()["json"]["task"]["status"] for _ in range(2)] == [
            "claimed", "resolved"]
        assert [d["status"] for d in deliveries(client, t["id"])] == ["delivered", "delivered"]
    finally:
        receiver.close()


def test_a_delivery_taken_and_not_recorded_within_its_lease_is_taken_again(
        client, relay_, receiver, clock):
    """A process that died mid-send: the row it took comes due again when its
    lease ends, and that process's late record changes nothing."""
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
    lease = int(1000 * relay_.callbacks.lease)
    [taken] = relay_.callbacks.claim()               # taken, then never sent
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"], d["nextAttemptAt"]) == ("pending", 0, clock() + lease)
    assert relay_.callbacks.run_once() == 0           # leased: taken by no one else
    clock.advance((lease - 1) / 1000)
    assert relay_.callbacks.run_once() == 0
    clock.advance(0.001)
    assert relay_.callbacks.run_once() == 1           # the lease ended
    assert receiver.take()["json"]["task"]["status"] == "resolved"
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"], d["deliveredAt"]) == ("delivered", 1, clock())
    clock.advance(1)
    relay_.callbacks.deliver(taken)                    # the first taker's try, recorded late
    receiver.take()
    assert deliveries(client, t["id"]) == [d]


def test_a_try_whose_outcome_cannot_be_recorded_waits_out_its_lease(
        client, relay_, receiver, clock, monkeypatch):
    """The database refuses the record: the row is not taken again at once (no
    spin), and is sent again when its lease ends (at least once)."""
    from relay.server.store import deliveries as store

    def refused(*args, **kwargs):
        raise RuntimeError("the database refused the write")
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
    record = store.record
    monkeypatch.setattr(store, "record", refused)
    assert relay_.callbacks.run_once() == 1
    first = receiver.take()
    monkeypatch.setattr(store, "record", record)
    assert relay_.callbacks.run_once() == 0
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"]) == ("pending", 0)
    clock.advance((d["nextAttemptAt"] - clock()) / 1000)       # its lease ends
    assert relay_.callbacks.run_once() == 1
    assert receiver.take()["raw"] == first["raw"]
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"]) == ("delivered", 1)


def test_owed_callbacks_go_out_after_the_task_is_deleted(client, relay_, receiver):
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "cancelled"})
    client.delete(f"/api/tasks/{t['id']}")
    assert relay_.callbacks.run_once() == 1
    assert receiver.take()["json"]["task"]["status"] == "cancelled"


def test_the_worker_thread_sends_and_a_slow_server_delays_nothing_else(client, relay_):
    slow, fast = Receiver([None]), Receiver()
    relay_.callbacks.start()
    try:
        a = open_task(client, slow.url)
        r = client.post(f"/api/tasks/{a['id']}/status", json={"status": "resolved"})
        assert r.status_code == 200
        assert slow.take()["json"]["task"]["id"] == a["id"]     # held by the slow server
        b = open_task(client, fast.url)
        client.post(f"/api/tasks/{b['id']}/status", json={"status": "resolved"})
        assert fast.take()["json"]["task"]["id"] == b["id"]
        # Sent off the request thread, and b went out while a is still unanswered.
        assert deliveries(client, a["id"])[0]["status"] == "pending"
        slow.release.set()
        eventually(lambda: deliveries(client, a["id"])[0]["status"] == "delivered")
    finally:
        relay_.callbacks.stop()
        slow.close()
        fast.close()


def test_a_delivery_pending_when_the_app_stops_is_sent_by_the_next(db_path, clock):
    receiver = Receiver([503, 200])
    first = create_app(Settings(db=db_path), clock)
    try:
        first.extensions["relay"].callbacks.start()
        client = first.test_client()
        t = open_task(client, receiver.url)
        client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
        sent = receiver.take()
        eventually(lambda: deliveries(client, t["id"])[0]["attempts"] == 1)
    finally:
        first.extensions["relay"].stop()
    clock.advance(1)
    second = create_app(Settings(db=db_path), clock)
    try:
        second.extensions["relay"].callbacks.start()
        again = receiver.take()
        assert again["raw"] == sent["raw"]
        assert json.loads(again["raw"])["task"]["status"] == "resolved"
        client = second.test_client()
        eventually(lambda: deliveries(client, t["id"])[0]["status"] == "delivered")
        [d] = deliveries(client, t["id"])
        assert (d["attempts"], d["responseStatus"]) == (2, 200)
    finally:
        second.extensions["relay"].stop()
        receiver.close()
    with pytest.raises(queue.Empty):
        receiver.received.get(timeout=0.05)


def test_the_served_relay_runs_the_worker(live, receiver):
    status, task = live.request("POST", "/api/tasks", {"title": "t", "callbackUrl": receiver.url})
    assert status == 201
    live.request("POST", f"/api/tasks/{task['id']}/status", {"status": "resolved"})
    assert receiver.take()["json"]["task"]["status"] == "resolved"


def test_a_url_that_cannot_be_sent_to_fails_without_retries(client, relay_, clock):
    # Refused when a task is opened; a row written by an older relay could still hold one.
    t = open_task(client, "http://127.0.0.1:1/hook")
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "resolved"})
    relay_.committer.commit(lambda c: (c.execute(
        "UPDATE callback_deliveries SET url = 'http://host:99999/'"), []))
    assert relay_.callbacks.run_once() == 1
    [d] = deliveries(client, t["id"])
    assert (d["status"], d["attempts"], d["responseStatus"]) == ("failed", 1, None)
    assert d["lastError"].startswith("cannot be sent: ValueError")


def test_the_reaper_forgets_finished_deliveries_after_the_event_retention(
        client, relay_, receiver, clock, settings):
    done = open_task(client, receiver.url)
    client.post(f"/api/tasks/{done['id']}/status", json={"status": "resolved"})
    relay_.callbacks.run_once()
    waiting = open_task(client, f"http://127.0.0.1:{closed_port()}/hook")
    client.post(f"/api/tasks/{waiting['id']}/status", json={"status": "resolved"})
    assert client.post("/api/system/reap").get_json()["trimmedDeliveries"] == 0
    clock.advance(settings.event_retention_seconds + 1)
    assert client.post("/api/system/reap").get_json()["trimmedDeliveries"] == 1
    assert deliveries(client, done["id"]) == []
    assert [d["status"] for d in deliveries(client, waiting["id"])] == ["pending"]


def test_a_dead_receiver_holds_at_most_half_the_senders(client, relay_):
    half = relay_.callbacks.senders // 2
    assert relay_.callbacks.per_host == half
    slow, fast = Receiver([None] * (half + 1)), Receiver()
    relay_.callbacks.start()
    try:
        stuck = [open_task(client, slow.url) for _ in range(half + 1)]
        for task in stuck:
            client.post(f"/api/tasks/{task['id']}/status", json={"status": "resolved"})
        held = {slow.take()["json"]["task"]["id"] for _ in range(half)}
        b = open_task(client, fast.url)
        client.post(f"/api/tasks/{b['id']}/status", json={"status": "resolved"})
        assert fast.take()["json"]["task"]["id"] == b["id"]
        # The last waits for a sender of its own host, not sent yet.
        [third] = [t["id"] for t in stuck if t["id"] not in held]
        with pytest.raises(queue.Empty):
            slow.received.get(timeout=0.2)
        assert deliveries(client, third)[0]["attempts"] == 0
        slow.release.set()
        assert slow.take()["json"]["task"]["id"] == third
        eventually(lambda: all(deliveries(client, t["id"])[0]["status"] == "delivered"
                               for t in stuck))
    finally:
        relay_.callbacks.stop()
        slow.close()
        fast.close()


def test_a_hanging_receiver_does_not_hold_the_process_at_exit(tmp_path):
    import signal
    import urllib.request
    from .test_process import start
    hanging = Receiver([None])
    proc, port, _ = start(tmp_path)
    try:
        def post(path, body):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as r:
                return json.loads(r.read())
        task = post("/api/tasks", {"title": "t", "callbackUrl": hanging.url})
        post(f"/api/tasks/{task['id']}/status", {"status": "resolved"})
        hanging.take()                        # the sender now waits for its answer
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - began < 5
    finally:
        proc.kill()
        proc.wait()
        hanging.close()


def test_a_move_to_the_same_status_records_the_note_and_owes_nothing(client, receiver):
    t = open_task(client, receiver.url)
    client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked"})
    r = client.post(f"/api/tasks/{t['id']}/status", json={"status": "blocked", "note": "still"})
    assert r.status_code == 200 and r.get_json()["status"] == "blocked"
    history = client.get(f"/api/tasks/{t['id']}").get_json()["events"]
    assert [(e["type"], e["status"], e["note"]) for e in history] == [
        ("created", "open", None), ("status", "blocked", None), ("status", "blocked", "still")]
    assert len(deliveries(client, t["id"])) == 1
