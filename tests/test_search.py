"""Search: web-search syntax read by the relay (phrases, or, -word, prefix,
diacritics), any input answered 200, `for` scoping as the inbox, filters,
rank and snippets; the index kept by triggers and built by the migration."""
from pathlib import Path

import pytest

from relay.server import db

from .conftest import register, send


@pytest.fixture
def team(client):
    for agent in ("alice", "bob", "carol"):
        register(client, agent)


def search(client, q, **params):
    r = client.get("/api/messages/search", query_string={"q": q, **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def ids(client, q, **params):
    return [m["id"] for m in search(client, q, **params)]


def test_words_phrases_or_negation_prefix(client, team):
    a = send(client, "alice", "bob", "the code review of the migration is done")["id"]
    b = send(client, "alice", "bob", "review the code before the release")["id"]
    c = send(client, "alice", "bob", "staging deploy failed")["id"]
    d = send(client, "alice", "bob", "production deploy went fine")["id"]
    assert sorted(ids(client, "code review")) == [a, b]            # every word, any order
    assert ids(client, '"code review"') == [a]                      # a phrase
    assert ids(client, '"code review') == [a]                       # an unclosed quote
    assert sorted(ids(client, "staging or production")) == [c, d]
    assert sorted(ids(client, "staging OR production")) == [c, d]
    assert ids(client, "deploy -staging") == [d]
    assert ids(client, 'review -"code review"') == [b]
    assert ids(client, "migrat*") == [a]                             # a prefix
    assert ids(client, "migrat") == []                               # a word is a whole word
    assert ids(client, "DEPLOY FAILED") == [c]                       # case does not matter


def test_diacritics_are_ignored_both_ways(client, team):
    cafe = send(client, "alice", "bob", "meet at the café on Zürich street")["id"]
    naive = send(client, "alice", "bob", "a naive approach")["id"]
    assert ids(client, "cafe") == [cafe]
    assert ids(client, "CAFÉ zurich") == [cafe]
    assert ids(client, "naïve") == [naive]


@pytest.mark.parametrize("q", [
    '"', '""', '(', ')', '*', '**', '-', '--', 'NEAR', 'NEAR(a b)', 'a NEAR b', 'AND', 'NOT',
    'or', 'OR', 'or or', 'a OR', 'OR a', '-a', '- a', 'body:x', 'subject : x', '^a', 'a + b',
    '{a b}', "'", '\\', '%', '_', '\x00', 'a"b"c', '"a" * "b"', '("a" OR b', '🙂', ' ', '',
    'x' * 10_000, 'a ' * 5_000, '"' * 10_000, '(' * 10_000, '-a ' * 3_333, 'or ' * 3_333,
    'review* ' * 1_250])
def test_any_input_is_a_query(client, team, q):
    send(client, "alice", "bob", "the code review of the migration is done")
    found = search(client, q)
    assert isinstance(found, list)


def test_what_any_input_finds(client, team):
    a = send(client, "alice", "bob", "near the body: a OR b")["id"]
    assert ids(client, "NEAR") == [a]           # a word, not an operator
    assert ids(client, "body:") == [a]          # not a column filter
    assert ids(client, "OR") == []              # a lone operator: nothing to search
    assert ids(client, "-near") == []           # only exclusions: nothing to search
    assert ids(client, "near*") == [a]
    assert ids(client, "review* " * 1_250) == []    # past the first 32 terms: ignored


def test_q_is_required_and_bounded(client, team):
    r = client.get("/api/messages/search")
    assert (r.status_code, r.get_json()) == (400, {"error": "q is required"})
    r = client.get("/api/messages/search", query_string={"q": "x" * 10_001})
    assert r.status_code == 400
    assert r.get_json()["error"].startswith("q must be at most 10000 characters")
    r = client.get("/api/messages/search?q=x&for=ghost")
    assert (r.status_code, r.get_json()) == (404, {"error": "agent ghost not found"})
    r = client.get("/api/messages/search?q=x&limit=501")
    assert r.status_code == 400


def test_snippets_mark_the_matched_words_and_rank_orders(client, team):
    body = " ".join(["filler"] * 40) + " the migration broke the build " + " ".join(["tail"] * 40)
    in_body = send(client, "alice", "bob", body)["id"]
    in_subject = send(client, "alice", "bob", "see the subject", subject="migration plan")["id"]
    hits = search(client, "migration")
    assert [h["id"] for h in hits] == [in_subject, in_body]      # a subject word counts double
    assert hits[0]["rank"] > hits[1]["rank"]
    assert hits[0]["snippet"] == "[migration] plan"
    assert "the [migration] broke the build" in hits[1]["snippet"]
    assert hits[1]["snippet"].startswith("…") and hits[1]["snippet"].endswith("…")
    assert {k: v for k, v in hits[1].items() if k not in ("rank", "snippet")} == \
        client.get(f"/api/messages/{in_body}").get_json()
    phrase = search(client, '"broke the build"')[0]["snippet"]
    assert "the migration [broke the build] tail" in phrase      # a phrase is marked whole
    prefix = search(client, "migra*")
    assert "[migration]" in prefix[0]["snippet"]


def test_for_shows_only_what_the_agent_can_read(client, team, clock):
    register(client, "bob", tags=["ops"])
    to_bob = send(client, "alice", "bob", "secret plan for bob")["id"]
    to_carol = send(client, "alice", "carol", "secret plan for carol")["id"]
    from_bob = send(client, "bob", "alice", "secret plan from bob")["id"]
    to_ops = send(client, "alice", "tag:ops", "secret plan for ops")["id"]
    everyone = send(client, "alice", "broadcast", "secret plan for all")["id"]
    claimed = send(client, "alice", "broadcast", "secret plan claimed", claimable=True)["id"]
    client.post(f"/api/messages/{claimed}/claim", json={"agentId": "carol"})
    assert sorted(ids(client, "secret plan", **{"for": "bob"})) == sorted(
        [to_bob, from_bob, to_ops, everyone])
    assert sorted(ids(client, "secret plan", **{"for": "carol"})) == sorted(
        [to_carol, everyone, claimed])
    assert len(ids(client, "secret plan")) == 6


def test_filters(client, team):
    root = send(client, "alice", "bob", "deploy one", kind="task", channel="ops")["id"]
    reply = send(client, "bob", "alice", "deploy two", replyTo=root)["id"]
    other = send(client, "carol", "bob", "deploy three")["id"]
    everything = sorted([root, reply, other])
    assert sorted(ids(client, "deploy")) == everything
    assert ids(client, "deploy", **{"from": "carol"}) == [other]
    assert ids(client, "deploy", to="alice") == [reply]
    assert ids(client, "deploy", kind="task") == [root]
    assert ids(client, "deploy", channel="ops") == [root]
    assert sorted(ids(client, "deploy", thread=root)) == [root, reply]
    assert sorted(ids(client, "deploy", since=root)) == [reply, other]
    assert ids(client, "deploy", before=reply) == [root]
    assert len(ids(client, "deploy", limit=2)) == 2


def test_the_index_follows_deletes(client, team):
    m = send(client, "alice", "bob", "ephemeral words")["id"]
    assert ids(client, "ephemeral") == [m]
    assert client.delete(f"/api/messages/{m}").status_code == 200
    assert ids(client, "ephemeral") == []


def test_the_migration_indexes_existing_messages(db_factory, clock):
    """A database from before search (the first release's schema) is migrated,
    and what it already held is found."""
    from relay.server import create_app
    from relay.server.settings import Settings
    path = db_factory("old", empty=True)
    conn = db.connect(path)
    dialect = conn.dialect
    with db.transaction(conn):
        dialect.schema_version(conn)
        v1 = (Path(__file__).parent / "data" / "schema_v1.sql").read_text()
        for statement in dialect.statements(dialect.ddl(v1)):
            conn.execute(statement)
        conn.execute("INSERT INTO messages (from_agent, to_addr, body, subject, created_at) "
                     "VALUES ('alice', 'bob', 'kept from before', 'old café', 1)")
        dialect.set_schema_version(conn, 1)
    conn.close()
    app = create_app(Settings(db=path), clock)
    try:
        hits = app.test_client().get("/api/messages/search?q=cafe before").get_json()
        assert [(h["id"], h["snippet"]) for h in hits] == [(1, "old [café]")]
        assert "ackRequired" not in hits[0]
    finally:
        app.extensions["relay"].stop()


@pytest.fixture
def engine(db_path):
    """The store module that searches on this test's engine (FTS5 or a tsvector)."""
    return db.dialect_of(db_path).search_store()


def test_past_the_window_the_newest_matches_are_ranked(client, team, monkeypatch, engine):
    monkeypatch.setattr(engine, "RANK_WINDOW", 3)
    best_old = send(client, "alice", "bob", "deploy deploy deploy")["id"]
    newer = [send(client, "alice", "bob", f"deploy number {i} of many words here")["id"]
             for i in range(4)]
    assert sorted(ids(client, "deploy")) == newer[1:]               # the newest three
    assert ids(client, "deploy", before=newer[1]) == [best_old, newer[0]]   # before moves it back
    monkeypatch.setattr(engine, "RANK_WINDOW", 100)
    assert ids(client, "deploy")[0] == best_old
    assert len(ids(client, "deploy", **{"for": "bob"})) == 5         # through the join too


def test_a_narrow_filter_past_the_window_still_finds(client, team, monkeypatch, engine):
    monkeypatch.setattr(engine, "RANK_WINDOW", 2)
    old = send(client, "alice", "carol", "deploy for carol")["id"]
    reply = send(client, "carol", "alice", "deploy reply", replyTo=old)["id"]
    for i in range(3):
        send(client, "alice", "bob", f"deploy {i}")
    assert sorted(ids(client, "deploy", **{"for": "carol"})) == [old, reply]
    assert sorted(ids(client, "deploy", thread=old)) == [old, reply]
    assert ids(client, "deploy", **{"from": "carol"}) == [reply]
