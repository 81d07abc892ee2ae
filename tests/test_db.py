"""db.py: pragmas, transactions, and the schema version."""
import sqlite3
from pathlib import Path

import pytest

from relay.server import db
from relay.server.dialects.sqlite import INCREMENTAL


def test_connection_pragmas(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.connect(db_path, "NORMAL").execute("PRAGMA synchronous").fetchone()[0] == 1


def test_init_sets_version_and_keeps_data(db_path):
    assert db.init(db_path) == db.SCHEMA_VERSION
    conn = db.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    conn.execute("INSERT INTO activity (kind, title, created_at) VALUES ('note', 'kept', 0)")
    db.init(db_path)
    assert conn.execute("SELECT title FROM activity").fetchone()[0] == "kept"


def test_newer_database_is_refused(db_path):
    db.init(db_path)
    db.connect(db_path).execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    with pytest.raises(db.SchemaError, match="newer than this relay"):
        db.init(db_path)


def test_migrations_run_in_order(db_path, monkeypatch):
    db.init(db_path)
    monkeypatch.setattr(db, "SCHEMA_VERSION", db.SCHEMA_VERSION + 2)
    monkeypatch.setattr(db, "MIGRATIONS", {
        db.SCHEMA_VERSION - 1: "CREATE TABLE m1 (x INTEGER);",
        db.SCHEMA_VERSION: "INSERT INTO m1 VALUES (1); INSERT INTO m1 VALUES (2);",
    })
    assert db.init(db_path) == db.SCHEMA_VERSION
    conn = db.connect(db_path)
    assert [r[0] for r in conn.execute("SELECT x FROM m1")] == [1, 2]


def test_failed_migration_changes_nothing(db_path, monkeypatch):
    db.init(db_path)
    monkeypatch.setattr(db, "SCHEMA_VERSION", db.SCHEMA_VERSION + 1)
    monkeypatch.setattr(db, "MIGRATIONS", {db.SCHEMA_VERSION: "CREATE TABLE m1 (x); BROKEN SQL;"})
    with pytest.raises(sqlite3.Error):
        db.init(db_path)
    conn = db.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION - 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'm1'").fetchone()[0] == 0


def test_transaction_rolls_back_on_error(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    with pytest.raises(ValueError):
        with db.transaction(conn):
            conn.execute("INSERT INTO activity (kind, title, created_at) VALUES ('note', 'x', 0)")
            raise ValueError("boom")
    assert conn.execute("SELECT count(*) FROM activity").fetchone()[0] == 0
    assert not conn.in_transaction


def test_pool_reuses_connections(db_path):
    db.init(db_path)
    pool = db.ConnectionPool(db_path, size=2)
    first = pool.acquire()
    pool.release(first)
    assert pool.acquire() is first


def shape(path):
    """Every table's columns and every index's columns: what a migration must reproduce."""
    conn = db.connect(path)
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE "
        "'sqlite_%' ORDER BY name")]
    return {n: [tuple(r) for r in conn.execute(f"PRAGMA table_xinfo({n})")]
            or [tuple(r) for r in conn.execute(f"PRAGMA index_xinfo({n})")] for n in names}


def test_version_1_database_migrates_to_the_fresh_schema(tmp_path):
    """A database made by the first release (tests/data/schema_v1.sql) is brought
    by every migration in turn to the shape of a new one, its rows kept."""
    fresh, old = str(tmp_path / "fresh.db"), str(tmp_path / "old.db")
    db.init(fresh)
    conn = db.connect(old)
    for statement in db.dialect_of(str(old)).statements((Path(__file__).parent / "data" / "schema_v1.sql").read_text()):
        conn.execute(statement)
    conn.execute("INSERT INTO pools (name, created_at, updated_at) VALUES ('kept', 1, 1)")
    conn.execute("INSERT INTO tasks (title, created_at, updated_at) VALUES ('kept', 1, 1)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert db.connect(old).execute("PRAGMA auto_vacuum").fetchone()[0] == 0    # NONE
    assert db.init(old) == db.SCHEMA_VERSION
    assert shape(old) == shape(fresh)
    conn = db.connect(old)
    # Free pages can be given back (incremental_vacuum in the reap cycle), old and new alike.
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    assert db.connect(fresh).execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    assert conn.execute("SELECT name FROM pools").fetchall()[0][0] == "kept"
    assert [tuple(r) for r in conn.execute("SELECT title, integration FROM tasks")] == [
        ("kept", None)]


def test_migration_indexes_the_events_already_logged(db_path):
    # A database from before event_targets: its logged events are indexed
    # by the migration, so agentId views of them stay whole.
    db.init(db_path)
    conn = db.connect(db_path)
    conn.execute("DROP TABLE event_targets")
    conn.execute("DROP TABLE message_counts")          # migration 9's: not there at 7 either
    conn.execute("INSERT INTO events (type, source, subject, time, data, scope) VALUES "
                 "('message.new', 'x', '1', 0, '{}', '{\"to\": \"tag:t\", \"agents\": [\"x\", \"a\"]}'),"
                 "('activity.created', 'x', '2', 0, '{}', NULL)")
    conn.execute("PRAGMA user_version = 7")
    assert db.init(db_path) == db.SCHEMA_VERSION
    assert sorted(tuple(r) for r in conn.execute("SELECT target, event_id FROM event_targets")) == [
        ("a", 1), ("tag:t", 1), ("x", 1)]


def test_migration_counts_the_messages_already_stored(db_path):
    # A database from before message_counts: the migration counts its messages
    # per kind, and stats reads those counts from then on.
    db.init(db_path)
    conn = db.connect(db_path)
    conn.execute("DROP TABLE message_counts")
    conn.executemany("INSERT INTO messages (from_agent, to_addr, kind, body, created_at) "
                     "VALUES ('a', 'b', ?, 'x', 0)", [("chat",)] * 3 + [("task",)] * 2)
    conn.execute("PRAGMA user_version = 8")
    assert db.init(db_path) == db.SCHEMA_VERSION
    assert sorted(tuple(r) for r in conn.execute("SELECT kind, n FROM message_counts")) == [
        ("chat", 3), ("task", 2)]
