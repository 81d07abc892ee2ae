"""The committer: changes and their events commit together; concurrent changes
share a transaction, and one that fails fails alone."""
import http.client
import sqlite3
import threading

import pytest

from relay.server import committer
from relay.server.api import commit, conn
from relay.server.clock import ManualClock
from relay.server.committer import Committer
from relay.server.dialects import postgres
from relay.server.errors import not_found
from relay.server.events import Event

from . import pg


def add_row(name):
    """A change that writes one config row and says so in one event."""
    def change(c):
        c.execute("INSERT INTO config_entries (namespace, key, value, version, updated_at) "
                  "VALUES ('test', ?, '1', 1, 0)", (name,))
        return name, [Event("test.added", name, {"name": name})]
    return change


def failing(name):
    """A change that writes, then fails: its write must not survive."""
    def change(c):
        add_row(name)(c)
        raise not_found(f"{name} failed")
    return change


def stored_names(relay_):
    rows = relay_.connections.acquire().execute(
        "SELECT key FROM config_entries ORDER BY key").fetchall()
    return [r[0] for r in rows]


def stored_events(relay_):
    rows = relay_.connections.acquire().execute(
        "SELECT subject FROM events WHERE type = 'test.added' ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_a_change_and_its_events_commit_together(app, relay_):
    with app.app_context():
        assert commit(add_row("a")) == "a"
        with pytest.raises(Exception, match="b failed"):
            commit(failing("b"))
    assert stored_names(relay_) == ["a"]
    assert stored_events(relay_) == ["a"]


def batch_while_held(relay_, changes):
    """Hold the committer with one change until all `changes` wait behind it,
    so they run as one batch; returns each one's result or exception and the
    statements the committer's connection ran."""
    statements = []
    relay_.committer.conn.set_trace_callback(statements.append)
    release = threading.Event()

    def holder(c):
        release.wait(10)
        return "held", []

    outcomes = {}

    def run(name, change):
        try:
            outcomes[name] = relay_.committer.commit(change)
        except Exception as error:          # noqa: BLE001 - the outcome is the assertion
            outcomes[name] = error

    first = threading.Thread(target=run, args=("holder", holder))
    first.start()
    while not relay_.committer._leading:
        release.wait(0.001)
    threads = [threading.Thread(target=run, args=(name, change)) for name, change in changes]
    for t in threads:
        t.start()
    while len(relay_.committer._waiting) < len(changes):
        release.wait(0.001)
    release.set()
    for t in [first, *threads]:
        t.join(10)
    relay_.committer.conn.set_trace_callback(None)
    return outcomes, statements


def test_waiting_changes_share_one_commit(relay_):
    outcomes, statements = batch_while_held(relay_, [(n, add_row(n)) for n in "abcd"])
    assert outcomes == {"holder": "held", "a": "a", "b": "b", "c": "c", "d": "d"}
    assert statements.count("COMMIT") == 2          # the holder's, then all four together
    assert "SAVEPOINT change" not in statements
    assert stored_names(relay_) == ["a", "b", "c", "d"]
    assert sorted(stored_events(relay_)) == ["a", "b", "c", "d"]


def test_a_failing_change_in_a_batch_fails_alone(relay_):
    changes = [("a", add_row("a")), ("x", failing("x")), ("b", add_row("b")),
               ("y", failing("y")), ("c", add_row("c"))]
    outcomes, statements = batch_while_held(relay_, changes)
    assert {k: outcomes[k] for k in "abc"} == {"a": "a", "b": "b", "c": "c"}
    assert str(outcomes["x"]) == "x failed" and str(outcomes["y"]) == "y failed"
    # The first failure rolls the batch back; the rest run again under savepoints.
    assert statements.count("ROLLBACK") == 1
    assert statements.count("ROLLBACK TO change") == 1
    assert statements.count("COMMIT") == 2
    assert stored_names(relay_) == ["a", "b", "c"]
    assert sorted(stored_events(relay_)) == ["a", "b", "c"]


def test_events_of_a_batch_follow_its_order(relay_):
    outcomes, _ = batch_while_held(relay_, [(n, add_row(n)) for n in "pqrs"])
    events = stored_events(relay_)
    assert sorted(events) == ["p", "q", "r", "s"]
    # The ids follow the order the changes ran in: the rows' own order.
    rows = relay_.connections.acquire().execute(
        "SELECT key FROM config_entries ORDER BY rowid").fetchall()
    assert events == [r[0] for r in rows]


def test_a_change_may_not_reach_for_the_request_connection_or_nest(app):
    with app.test_request_context():
        with pytest.raises(RuntimeError, match="use the connection the change is given"):
            commit(lambda c: (conn(), []))
        with pytest.raises(RuntimeError, match="inside a change"):
            commit(lambda c: (commit(add_row("z")), []))


def test_concurrent_sends_exactly_once_with_their_events(live):
    """40 clients send at once, some to an unknown agent: every good send is
    stored once with one message.new, in id order; the bad ones leave nothing."""
    assert live.request("POST", "/api/agents", {"id": "inbox"})[0] == 201
    barrier = threading.Barrier(40)
    results = {}

    def sender(i):
        c = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
        barrier.wait()
        for j in range(5):
            to = "nobody" if (i + j) % 4 == 0 else "inbox"
            results[(i, j)] = live.request("POST", "/api/messages",
                                           {"from": f"s{i}", "to": to, "body": f"{i}.{j}"}, conn=c)
        c.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    good = {k: body for k, (status, body) in results.items() if status == 201}
    bad = {k: (status, body) for k, (status, body) in results.items() if k not in good}
    assert len(results) == 200 and len(good) == 150
    assert all(s == 404 and b == {"error": "agent nobody not found"} for s, b in bad.values())
    assert sorted(m["body"] for m in good.values()) == sorted(f"{i}.{j}" for i, j in good)
    _, stored = live.request("GET", "/api/messages?for=inbox&limit=500")
    assert sorted(m["id"] for m in stored) == sorted(m["id"] for m in good.values())
    _, events = live.request("GET", "/api/events/recent?types=message.new&limit=500")
    assert [e["data"]["id"] for e in events] == sorted(m["id"] for m in good.values())


def test_a_failing_listener_fails_no_write(relay_, caplog):
    def broken(stored):
        raise RuntimeError("listener broke")
    relay_.committer.listeners.insert(0, broken)
    assert relay_.committer.commit(add_row("kept")) == "kept"
    assert stored_names(relay_) == ["kept"] and stored_events(relay_) == ["kept"]
    assert "a commit listener failed" in caplog.text
    # The agent cache after it still heard of the commit.
    relay_.committer.commit(lambda c: (None, [Event("agent.removed", "gone", {"agentId": "gone"})]))
    assert relay_.agent_cache.get("gone", lambda: {"id": "gone"}) is None


def test_a_failed_begin_fails_the_batch_and_the_next_one_runs(relay_):
    conn = relay_.committer.conn
    real = conn.execute

    def refuse_begin(sql, *args):
        if sql == "BEGIN IMMEDIATE":
            raise sqlite3.OperationalError("database is locked")
        return real(sql, *args)

    conn.execute = refuse_begin
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        relay_.committer.commit(add_row("lost"))
    del conn.execute
    assert relay_.committer.commit(add_row("next")) == "next"
    assert stored_names(relay_) == ["next"]


# --- PostgreSQL: concurrent write transactions (README: "Several relays on PostgreSQL") ---

@pytest.fixture
def two_committers():
    """Two committers on one PostgreSQL database, as two relay processes have."""
    url = pg.create()
    made = [Committer(url, "FULL", ManualClock(), []) for _ in range(2)]
    made[0].commit(lambda c: (c.execute(
        "INSERT INTO config_entries (namespace, key, value, version, updated_at) "
        "VALUES ('test', 'n', '0', 1, 0)"), []))
    yield made
    for committer in made:
        committer.close()
    pg.drop(url)


def counted(c):
    return int(c.execute("SELECT value FROM config_entries WHERE key = 'n'").fetchone()[0])


def increment(read=lambda: None):
    """Read the counter, then write it plus one: a lost update unless serialized."""
    def change(c):
        n = counted(c)
        read()
        c.execute("UPDATE config_entries SET value = ? WHERE key = 'n'", (str(n + 1),))
        return n + 1, [Event("test.counted", str(n + 1), {"n": n + 1})]
    return change


@pg.only
def test_a_conflicting_batch_runs_again_on_what_the_other_committed(two_committers):
    a, b = two_committers
    b_committed = threading.Event()
    results = []

    def read():
        if not b_committed.is_set():           # a's first run: b commits between read and write
            results.append(b.commit(increment()))
            b_committed.set()
    results.append(a.commit(increment(read)))
    assert results == [1, 2]
    assert (a.retries, b.retries) == (1, 0)
    assert counted(a.conn) == 2


@pg.only
def test_racing_read_then_write_on_two_committers_is_the_serial_outcome(two_committers):
    """2 x 50 concurrent increments: every one counted once, events in id order."""
    outcomes = []

    def run(committer):
        outcomes.append(committer.commit(increment()))
    threads = [threading.Thread(target=run, args=(two_committers[i % 2],)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == list(range(1, 101))
    a = two_committers[0]
    assert counted(a.conn) == 100
    subjects = [r[0] for r in a.conn.execute(
        "SELECT subject FROM events WHERE type = 'test.counted' ORDER BY id").fetchall()]
    assert subjects == [str(n) for n in range(1, 101)]


@pg.only
def test_a_batch_that_keeps_conflicting_fails_after_its_attempts(two_committers):
    a, _ = two_committers
    conflict = postgres.psycopg.errors.SerializationFailure("could not serialize access")

    def change(c):
        increment()(c)
        raise conflict
    with pytest.raises(postgres.psycopg.errors.SerializationFailure):
        a.commit(change)
    assert a.retries == committer.ATTEMPTS - 1
    assert counted(a.conn) == 0


@pg.only
def test_a_change_waiting_long_for_a_row_runs_again(two_committers):
    """A row held by another transaction past ROW_WAIT (two batches updating rows
    in opposite orders deadlock) fails the attempt, not the change: it runs again."""
    a, b = two_committers
    holder = b.conn
    postgres.begin(holder)
    holder.execute("UPDATE config_entries SET value = '10' WHERE key = 'n'")
    done = []
    waiting = threading.Thread(target=lambda: done.append(a.commit(increment())))
    waiting.start()
    pg.until(lambda: a.retries > 0)
    holder.commit()
    waiting.join(10)
    assert done == [11] and counted(a.conn) == 11
