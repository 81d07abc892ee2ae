"""The tasks migration brings a database from before the tasks issue to the same
schema as a new one."""
from relay import db

MINE = ("task_events", "callback_deliveries", "integrations")
INDEXES = ("tasks_dedupe", "tasks_claims", "tasks_claimed_by", "tasks_target")


def shape(conn) -> dict:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        "columns": {t: [tuple(c) for c in conn.execute(f"PRAGMA table_info({t})")]
                    for t in tables},
        "indexes": sorted(tuple(r) for r in conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'")),
    }


def test_migration_2_matches_the_schema(db_path):
    db.init(db_path)
    conn = db.connect(db_path)
    fresh = shape(conn)
    # Back to where the tasks table stood before: no history, no integration column.
    for table in MINE:
        conn.execute(f"DROP TABLE {table}")
    for index in INDEXES:
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE tasks DROP COLUMN integration")
    conn.execute("INSERT INTO tasks (title, created_at, updated_at) VALUES ('kept', 1, 1)")
    for statement in db._statements(db.MIGRATIONS[2]):
        conn.execute(statement)
    assert shape(conn) == fresh
    assert [tuple(r) for r in conn.execute("SELECT title, integration FROM tasks")] == [
        ("kept", None)]
