"""Agents and messages written straight into a relay database, SQLite or
PostgreSQL, through this checkout's db layer (relay/server/db.py); the
schema is `source`'s relay's (another checkout's, for a before/after)."""
import json
import time

from bench.common import init_schema
from relay.server import db, dialects

AGENTS = 100
READERS = 16          # agents whose inbox ends with TAIL messages only for them
TAIL = 50
SUBJECT = "build 4711 failed"
BODY = "tests/test_streams.py and 2 more failed on main; the logs are in the task."

# `count` messages in one statement on both engines (a recursive CTE: SQLite has
# no generate_series): every hundredth to broadcast, nine in a hundred to a tag,
# the rest to the AGENTS agents in a mixed order.
BULK = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO messages (from_agent, to_addr, subject, body, created_at)
SELECT 'seeder', CASE WHEN i % 100 = 0 THEN 'broadcast'
                      WHEN i % 100 < 10 THEN 'tag:t' || ((i / 100) % 10)
                      ELSE 'agent-' || ((i * 37 + i / 100) % 100) END, NULL, ?, ?
FROM n
"""


def seed(url: str, count: int, readers: int = 0, source: str | None = None,
         init: bool = True) -> int:
    """`count` messages (direct, tag and broadcast addresses over AGENTS agents);
    then, for each of `readers` agents, TAIL messages to it alone. Returns the
    highest id."""
    if init:
        init_schema(url, source)
    conn = db.connect(url)
    now = int(time.time() * 1000)
    with db.transaction(conn):
        conn.executemany(
            "INSERT INTO agents (id, name, tags, status, instance_id, last_seen, created_at,"
            " updated_at) VALUES (?, ?, ?, 'online', 'seed', ?, ?, ?)",
            [(f"agent-{i}", f"agent-{i}", json.dumps([f"t{i % 10}"]), now, now, now)
             for i in range(AGENTS)]
            + [(f"reader-{r}", f"reader-{r}", "[]", now, now, now) for r in range(readers)])
        if count:
            conn.execute(BULK, (count, "seeded message body " * 5, now))
        if readers:
            conn.executemany(
                "INSERT INTO messages (from_agent, to_addr, subject, body, created_at)"
                " VALUES (?,?,?,?,?)",
                [(f"agent-{i % AGENTS}", f"reader-{i % readers}", SUBJECT, BODY, now)
                 for i in range(TAIL * readers)])
    if dialects.is_postgres(url):
        # Autovacuum would gather the statistics at a moment of its own, maybe
        # mid-measurement; until then the planner knows the tables as empty.
        conn.execute("VACUUM ANALYZE")
    latest = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
    conn.close()
    return latest


def reader_cursors(url: str) -> dict:
    """For each reader, {n: the `since` after which its inbox holds exactly n}."""
    conn = db.connect(url)
    cursors = {}
    for r in range(READERS):
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM messages WHERE to_addr = ? ORDER BY id DESC LIMIT ?",
            (f"reader-{r}", TAIL))]
        cursors[r] = {0: ids[0], 1: ids[0] - 1, TAIL: ids[-1] - 1}
    conn.close()
    return cursors
