"""db.py: pragmas, transactions, and the schema version."""
import sqlite3

import pytest

from relay import db


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
    pool = db.Pool(db_path, size=2)
    first = pool.acquire()
    pool.release(first)
    assert pool.acquire() is first


def test_version_1_database_is_brought_forward(db_path):
    db.init(db_path)
    fresh = db.connect(db_path)
    tables = lambda c: {r[0]: r[1] for r in c.execute("SELECT name, sql FROM sqlite_master "
                                                      "WHERE name LIKE 'command%'")}
    columns = lambda c: [r[1] for r in c.execute("PRAGMA table_info(managed_agents)")]
    expected_columns = columns(fresh)
    fresh.executescript("DROP TABLE commands; ALTER TABLE managed_agents DROP COLUMN recent_starts;"
                        "PRAGMA user_version = 1;")
    assert "commands" not in tables(fresh)
    assert db.init(db_path) == db.SCHEMA_VERSION
    assert columns(fresh) == expected_columns
    assert set(tables(fresh)) == {"commands", "commands_target", "commands_pending",
                                  "commands_correlation"}
    fresh.execute("INSERT INTO commands (id, type, source, target, created_at, updated_at, "
                  "expires_at) VALUES ('cmd_1', 'x.a', 's', 't', 0, 0, 1)")
