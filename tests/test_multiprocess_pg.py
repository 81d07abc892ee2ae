"""Several `relay serve` processes on one PostgreSQL database (README: "Several
relays on PostgreSQL"): every conditional move has one winner across them,
every event reaches every process's streams in id order exactly once, and
the periodic work moves to another process when its leader dies."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from relay.server import db

from . import pg
from .sse import SSE
from .test_process import free_port

pytestmark = pytest.mark.skipif(pg.unreachable() is not None,
                                reason=f"PostgreSQL not reachable at {pg.ADMIN_URL}")


class Process:
    """One `relay serve` on the shared database."""

    def __init__(self, url, **env):
        self.url = url
        self.port = free_port()
        environment = {**os.environ, "RELAY_DB": url, "RELAY_PORT": str(self.port),
                       "RELAY_KEEPALIVE": "0.5", "RELAY_THREADS": "24", "RELAY_PG_POOL": "6",
                       **env}
        environment.pop("AGENT_RELAY_TOKEN", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "relay", "serve"], env=environment,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout.readline().startswith("relay http://")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster():
    url = pg.create()
    made = []

    def start(**env):
        made.append(Process(url, **env))
        return made[-1]

    yield start
    for process in made:
        process.stop()
    pg.drop(url)


def both(a, b, count, call):
    """`call(process, i)` for i in range(count), alternating processes, all at once."""
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda i: call(a if i % 2 == 0 else b, i), range(count)))


def test_fifty_claims_over_two_processes_one_winner(cluster):
    a, b = cluster(), cluster()
    a.call("POST", "/api/agents", {"id": "boss"})
    for i in range(50):
        b.call("POST", "/api/agents", {"id": f"w{i}"})
    _, m = a.call("POST", "/api/messages", {"from": "boss", "to": "broadcast", "body": "job",
                                            "claimable": True})
    answers = both(a, b, 50, lambda p, i: p.call("POST", f"/api/messages/{m['id']}/claim",
                                                 {"agentId": f"w{i}"}))
    assert sorted(status for status, _ in answers) == [200] + [409] * 49
    winner = next(body["claimedBy"] for status, body in answers if status == 200)
    assert a.call("GET", f"/api/messages/{m['id']}")[1]["claimedBy"] == winner
    assert b.call("GET", f"/api/messages/{m['id']}")[1]["claimedBy"] == winner


def test_idempotent_send_retried_on_both_is_one_message(cluster):
    a, b = cluster(), cluster()
    a.call("POST", "/api/agents", {"id": "x"})
    answers = both(a, b, 30, lambda p, i: p.call("POST", "/api/messages", {
        "from": "s", "to": "x", "body": "once", "idempotencyKey": "k1"}))
    assert sorted(s for s, _ in answers) == [200] * 29 + [201]
    assert len({body["id"] for _, body in answers}) == 1
    assert len(b.call("GET", "/api/messages?for=x")[1]) == 1


def test_strict_pool_rotation_under_sends_to_both(cluster):
    a, b = cluster(), cluster()
    for agent in ("m1", "m2", "m3"):
        a.call("POST", "/api/agents", {"id": agent, "tags": ["crew"]})
    assert b.call("PUT", "/api/pools/crew", {"selector": {"tags": ["crew"]}})[0] == 201
    answers = both(a, b, 30, lambda p, i: p.call("POST", "/api/messages",
                                                 {"from": "s", "to": "pool:crew", "body": str(i)}))
    picks = [body["resolvedToAgent"] for _, body in sorted(answers, key=lambda x: x[1]["id"])]
    first = picks[0]
    order = ["m1", "m2", "m3"]
    start = order.index(first)
    assert picks == [order[(start + i) % 3] for i in range(30)]


@pytest.mark.parametrize("notify", ["1", "0"])
def test_long_poll_on_b_answered_by_a_send_on_a(cluster, notify):
    """With LISTEN/NOTIFY, and with RELAY_PG_NOTIFY=0 (polling the log)."""
    a, b = cluster(RELAY_PG_NOTIFY=notify), cluster(RELAY_PG_NOTIFY=notify)
    a.call("POST", "/api/agents", {"id": "waiter"})
    result = {}
    poll = threading.Thread(target=lambda: result.update(
        answer=b.call("GET", "/api/messages?for=waiter&wait=20")))
    poll.start()
    time.sleep(1)                                     # the poll is held on B
    began = time.monotonic()
    _, sent = a.call("POST", "/api/messages", {"from": "s", "to": "waiter", "body": "hi"})
    poll.join(25)
    assert time.monotonic() - began < 1.5
    status, body = result["answer"]
    assert status == 200 and [m["id"] for m in body] == [sent["id"]]


def test_sse_on_b_gets_every_event_of_sends_on_both_in_order_once_and_resumes(cluster):
    a, b = cluster(), cluster()
    a.call("POST", "/api/agents", {"id": "sink"})
    total = 1000
    whole = SSE(b.port, "/api/events?types=message.new", timeout=60)
    partial = SSE(b.port, "/api/events?types=message.new", timeout=60)
    assert whole.frame() == {"comment": "connected"} and partial.frame() == {"comment": "connected"}
    sender = threading.Thread(target=lambda: result.extend(both(a, b, total, lambda p, i: p.call(
        "POST", "/api/messages", {"from": "s", "to": "sink", "body": str(i)}))))
    result: list = []
    sender.start()
    # A client that leaves mid-load and resumes on B with Last-Event-ID.
    first = partial.events(300, seconds=120)
    partial.close()
    resumed = SSE(b.port, "/api/events?types=message.new",
                  headers={"Last-Event-ID": str(first[-1][1]["id"])}, timeout=60)
    seen = whole.events(total, seconds=240)
    sender.join(240)
    rest = resumed.events(total - 300, seconds=240)
    sent_ids = sorted(body["id"] for status, body in result if status == 201)
    assert len(sent_ids) == total
    for events in (seen, first + rest):
        event_ids = [e["id"] for _, e in events]
        assert event_ids == sorted(set(event_ids))                 # in order, exactly once
        assert sorted(e["data"]["id"] for _, e in events) == sent_ids
    whole.close()
    resumed.close()


def test_killing_the_leader_hands_the_reap_cycle_over(cluster):
    a = cluster(RELAY_REAP_INTERVAL="0.5")
    assert a.call("GET", "/api/health")[0] == 200
    time.sleep(1)                                     # a took the lead
    b = cluster(RELAY_REAP_INTERVAL="0.5")
    b.call("POST", "/api/agents", {"id": "w"})
    _, m = b.call("POST", "/api/messages", {"from": "s", "to": "w", "body": "job",
                                            "claimable": True, "claimTtlSeconds": 1})
    a.stop(signal.SIGKILL)
    assert b.call("POST", f"/api/messages/{m['id']}/claim", {"agentId": "w"})[0] == 200
    deadline = time.monotonic() + 10
    while b.call("GET", f"/api/messages/{m['id']}")[1]["claimedBy"] is not None:
        assert time.monotonic() < deadline, "no process reaped the expired claim"
        time.sleep(0.2)
    assert b.call("GET", "/api/health")[1]["status"] == "ok"


def test_config_expected_version_race_one_winner(cluster):
    a, b = cluster(), cluster()
    assert a.call("PUT", "/api/config/team/lead", {"value": {"who": "nobody"}})[0] == 201
    answers = both(a, b, 20, lambda p, i: p.call("PUT", "/api/config/team/lead", {
        "value": {"who": f"w{i}"}, "expectedVersion": 1}))
    assert sorted(s for s, _ in answers) == [200] + [409] * 19
    winner = next(body["value"] for s, body in answers if s == 200)
    entry = b.call("GET", "/api/config/team/lead")[1]
    assert (entry["version"], entry["value"]) == (2, winner)


def test_one_callback_delivery_sent_once_with_both_processes_running(cluster):
    from .receiver import Receiver
    receiver = Receiver()
    a, b = cluster(), cluster()
    _, task = a.call("POST", "/api/tasks", {"title": "t", "callbackUrl": receiver.url})
    for i, status in enumerate(["blocked", "open", "blocked", "open", "resolved"]):
        assert (a, b)[i % 2].call("POST", f"/api/tasks/{task['id']}/status",
                                  {"status": status})[0] == 200
    got = [receiver.received.get(timeout=10)]
    while got[-1]["json"]["task"]["status"] != "resolved":
        got.append(receiver.received.get(timeout=10))
    time.sleep(3)                        # both senders look (every second) several times
    assert receiver.received.empty()
    delivered = [int(r["headers"]["X-Relay-Delivery"]) for r in got]
    assert delivered == sorted(set(delivered))          # each delivery once, in order
    receiver.server.shutdown()


def test_both_processes_send_callbacks_each_once_and_each_tasks_in_order(cluster):
    """Every process runs the sender. Which one sent a callback shows nowhere (no
    header names it), so the sharing is proved by the per-host limit: a process
    sends at most `per_host` (4 of its 8 senders) to one receiver at once, and
    the receiver holds eight at once."""
    from .receiver import Receiver
    held = 8
    receiver = Receiver([None] * held)
    a, b = cluster(), cluster()
    try:
        tasks = [body for _, body in both(a, b, 100, lambda p, i: p.call(
            "POST", "/api/tasks", {"title": f"t{i}", "callbackUrl": receiver.url}))]
        moves = ["blocked", "open", "resolved"]
        for status in moves:
            answers = both(a, b, 100, lambda p, i: p.call(
                "POST", f"/api/tasks/{tasks[i]['id']}/status", {"status": status}))
            assert [code for code, _ in answers] == [200] * 100
        deadline = time.monotonic() + 30
        while receiver.holding < held:
            assert time.monotonic() < deadline, f"{receiver.holding} held at once: one sender"
            time.sleep(0.05)
        receiver.release.set()
        got = [receiver.take(timeout=20) for _ in range(300)]
        time.sleep(3)                    # both senders look (every second) several times
        assert receiver.nothing_more()
        delivered = [int(r["headers"]["X-Relay-Delivery"]) for r in got]
        assert len(set(delivered)) == 300                       # each delivery once
        by_task: dict = {}
        for r in got:
            by_task.setdefault(r["json"]["task"]["id"], []).append(r["json"]["task"]["status"])
        assert by_task == {t["id"]: moves for t in tasks}      # each task's in order
    finally:
        receiver.close()


def test_killing_the_leader_hands_the_lifecycle_over_without_a_second_spawn(cluster):
    from .fake_orchestrator import FakeOrchestrator
    a = cluster(RELAY_LIFECYCLE_TICK="0.3", RELAY_REAP_INTERVAL="0.3")
    assert a.call("GET", "/api/health")[0] == 200
    time.sleep(1)                                     # a took the lead
    b = cluster(RELAY_LIFECYCLE_TICK="0.3", RELAY_REAP_INTERVAL="0.3")
    c = cluster(RELAY_LIFECYCLE_TICK="0.3", RELAY_REAP_INTERVAL="0.3")
    orch = FakeOrchestrator(b.port)
    assert b.call("PUT", "/api/spawn-policy/reviewer", {
        "orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app/repo", "mode": "always",
        "restart": {"maxPerDay": 3, "backoffSeconds": 1, "maxBackoffSeconds": 1},
        "startTimeoutSeconds": 60})[0] in (200, 201)

    def spawns():
        return [x for x in orch.poll() if x["type"] == "agent.spawn"]
    deadline = time.monotonic() + 10
    while not spawns():
        assert time.monotonic() < deadline, "no process started the policy"
        time.sleep(0.2)
    time.sleep(2)                                     # three processes, many ticks
    [command] = spawns()
    a.stop(signal.SIGKILL)
    orch.finish(command, status="failed", error="no tmux")
    # The failure is counted and the restart made by another process, once.
    deadline = time.monotonic() + 15
    while len(spawns()) < 1 or spawns()[0]["id"] == command["id"]:
        assert time.monotonic() < deadline, "no surviving process ran the lifecycle"
        time.sleep(0.2)
    time.sleep(2)
    [restart] = spawns()
    assert restart["params"]["spawnRequestId"] != command["params"]["spawnRequestId"]
    assert c.call("GET", "/api/spawn-policy/reviewer/status")[1]["state"]["restartCount"] >= 0


def test_an_automation_made_on_a_runs_for_an_event_committed_on_b(cluster):
    a, b = cluster(), cluster()
    a.call("POST", "/api/agents", {"id": "ops"})
    status, made = a.call("POST", "/api/automations", {
        "name": "page ops", "trigger": {"event": "task.created"},
        "action": {"type": "message", "to": "ops", "body": "new task: {{event.data.title}}"}})
    assert status == 201, made
    time.sleep(2)                                     # b reads the automations again
    assert b.call("POST", "/api/tasks", {"title": "disk full"})[0] == 201
    deadline = time.monotonic() + 10
    while not (inbox := a.call("GET", "/api/messages?for=ops")[1]):
        assert time.monotonic() < deadline, "the automation did not run"
        time.sleep(0.2)
    time.sleep(1)
    assert [m["body"] for m in a.call("GET", "/api/messages?for=ops")[1]] == ["new task: disk full"]


def test_held_polls_and_streams_hold_no_pooled_connection(cluster):
    """RELAY_PG_POOL=2: eight held long polls and streams, and sends still go through."""
    import http.client
    a = cluster(RELAY_PG_POOL="2")
    for agent in ("w0", "w1", "w2", "w3", "w4"):
        a.call("POST", "/api/agents", {"id": agent})
    polls = [threading.Thread(target=a.call, args=("GET", f"/api/messages?for=w{i}&wait=8"))
             for i in range(5)]
    for poll in polls:
        poll.start()
    streams = [SSE(a.port, f"/api/events?agentId=w{i}") for i in range(3)]
    time.sleep(1)
    # A held connection would leave none: these would wait out the pool's timeout and fail.
    for i in range(10):
        assert a.call("POST", "/api/messages", {"from": "s", "to": "w0", "body": str(i)})[0] == 201
    assert a.call("GET", "/api/health")[0] == 200
    for stream in streams:
        stream.close()
    for poll in polls:
        poll.join(10)


def test_init_db_takes_a_postgres_url_and_shows_it_without_its_password():
    url = pg.create()
    try:
        secret = url.replace("postgresql://postgres@", "postgres://postgres:hunter2@")
        done = subprocess.run([sys.executable, "-m", "relay", "init-db", "--db", secret],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (f"relay: database {secret.replace(':hunter2', '')} at "
                                       f"schema version {db.SCHEMA_VERSION}")
    finally:
        pg.drop(url)


def test_a_relay_survives_its_connections_being_cut(cluster):
    """The writer, the event-log follower and the pool reconnect after the server
    ends their sessions (a PostgreSQL restart or failover looks the same)."""
    a = cluster()
    a.call("POST", "/api/agents", {"id": "w"})
    stream = SSE(a.port, "/api/events?types=message.new", timeout=30)
    assert stream.frame() == {"comment": "connected"}
    import psycopg
    name = pg.ADMIN_URL  # the admin database: end every session of the relay's database
    with psycopg.connect(name, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()",
                      (a.url.rsplit("/", 1)[1],))
    deadline = time.monotonic() + 15
    while (sent := a.call("POST", "/api/messages", {"from": "s", "to": "w", "body": "after"}))[0] != 201:
        assert time.monotonic() < deadline, sent
        time.sleep(0.3)
    [(_, event)] = stream.events(1, seconds=15)
    assert event["data"]["id"] == sent[1]["id"]
    stream.close()


def test_a_websocket_on_b_gets_a_send_made_on_a(cluster):
    from simple_websocket import Client
    a, b = cluster(), cluster()
    a.call("POST", "/api/agents", {"id": "w"})
    ws = Client.connect(f"ws://127.0.0.1:{b.port}/api/ws")
    try:
        ws.send(json.dumps({"type": "subscribe", "id": 1, "types": ["message.new"]}))
        assert json.loads(ws.receive(timeout=10))["type"] == "ack"
        _, sent = a.call("POST", "/api/messages", {"from": "s", "to": "w", "body": "hi"})
        frame = json.loads(ws.receive(timeout=10))
        assert (frame["type"], frame["event"]["data"]["id"]) == ("event", sent["id"])
    finally:
        ws.close()


def test_a_policy_put_on_either_process_is_planned_by_the_leader_at_once(cluster):
    from .fake_orchestrator import FakeOrchestrator
    # No tick comes during the test; one of the two puts is made on the process
    # that does not lead, whichever leads: its event wakes the leader's manager.
    a, b = cluster(RELAY_LIFECYCLE_TICK="3600"), cluster(RELAY_LIFECYCLE_TICK="3600")
    FakeOrchestrator(a.port)
    commands = SSE(a.port, "/api/events?types=command.created")
    try:
        for process, name in ((a, "one"), (b, "two")):
            assert process.call("PUT", f"/api/spawn-policy/{name}", {
                "orchestratorId": "h1", "provider": "claude", "cwd": "/srv/app/repo",
                "mode": "always"})[0] == 201
        spawned = {e["data"]["params"]["policyName"] for _, e in commands.events(2)}
        assert spawned == {"one", "two"}
    finally:
        commands.close()
