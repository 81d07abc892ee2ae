"""SQLite: one file, one writer at a time (README: "Storage").

Every connection runs in autocommit mode; writes open their own
`BEGIN IMMEDIATE` so concurrent writers queue on SQLite's lock instead of
failing halfway through with "database is locked".
"""
import os
import sqlite3
import sys
import threading

from . import object_pairs

name = "sqlite"
Error = sqlite3.Error


class Connection(sqlite3.Connection):
    """A connection that knows its database's in-process write lock."""
    write_lock: threading.Lock
    dialect = sys.modules[__name__]


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock_for(path: str) -> threading.Lock:
    # SQLite admits one writer at a time; a waiting writer sleeps in its busy
    # handler with growing back-off (1, 2, 5, 10 ms ...). Queueing this
    # process's writers on a lock first hands the database over without sleeps.
    key = os.path.realpath(path)
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def connect(path: str, synchronous: str = "FULL") -> Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0,
                           factory=Connection)
    conn.write_lock = write_lock_for(path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'NORMAL' if synchronous.upper() == 'NORMAL' else 'FULL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def begin(conn, ordered: bool = False) -> None:
    """Open a write transaction: the database's one writer from here to COMMIT
    (so its ids commit in order, whatever it inserts: `ordered` changes nothing)."""
    conn.execute("BEGIN IMMEDIATE")


begin_exclusive = begin


def ordered(conn) -> None:
    """The writer is alone already: ids commit in order."""


def retryable(error: BaseException) -> bool:
    """A transaction that waited for the writer's lock never conflicts."""
    return False


# --- the schema --------------------------------------------------------------------

def ddl(script: str) -> str:
    return script


def statements(script: str):
    # executescript() would COMMIT our transaction first; splitting keeps the
    # whole schema change atomic. complete_statement() respects quoted ';'.
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""


INCREMENTAL = 2           # PRAGMA auto_vacuum value


def open_hint(path: str) -> str:
    """Why a file could not be opened, as far as can be told."""
    where = os.path.abspath(path)
    return ("its folder does not exist" if not os.path.isdir(os.path.dirname(where))
            else "is it an SQLite database?")


def before_schema(conn) -> None:
    # A new file takes incremental auto-vacuum before its first table; an
    # older one is converted once by the VACUUM in after_schema (README "Retention").
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")


def after_schema(conn) -> None:
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
        conn.execute("VACUUM")       # applies the auto_vacuum mode set before


def schema_version(conn) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def set_schema_version(conn, version: int) -> None:
    conn.execute(f"PRAGMA user_version={int(version)}")


# --- what the engines spell differently -----------------------------------------------

def json_has(column: str) -> str:
    """A condition: the JSON array in `column` holds the one placeholder's value."""
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"


def json_append(column: str) -> str:
    """An expression: the JSON array in `column` with the placeholder's value appended."""
    return f"json_insert({column}, '$[#]', ?)"


# Most payload, meta and readBy texts are {} or []: json() of a constant is worked
# out once per statement, json() of a column once per row (parsed and written again).
JSON_TEXT = "CASE {0} WHEN '{{}}' THEN json('{{}}') WHEN '[]' THEN json('[]') ELSE json({0}) END"
JSON_FLAG = "CASE WHEN {} THEN json('true') ELSE json('false') END"


def json_object(fields: list[tuple[str, str, str]]) -> str:
    """An expression: one row as a JSON object. `fields` are (key, expression, form):
    form 'json' embeds JSON text, 'bool' a 0/1 flag."""
    pairs = object_pairs(fields, {"json": JSON_TEXT, "bool": JSON_FLAG})
    return f"json_object({pairs})"


def json_array(expression: str, order: str = "id") -> str:
    """An aggregate: a JSON array text of `expression` (a json_object()) per row, in
    the rows' order. The rows come ordered by `order` from a subquery: SQLite 3.40
    feeds the aggregate in that order (an ORDER BY inside the aggregate needs 3.44)."""
    return f"json_group_array({expression})"


def json_objects(alias: str, shapes: dict[str, list[tuple[str, str, str]]]) -> tuple[dict, str]:
    """Per shape (its fields: key, expression on `alias`'s columns, form), an
    expression writing `alias`'s row as that JSON object's text; and what the
    FROM clause needs after `alias` for them (nothing: json_object() needs no join)."""
    return {name: json_object(fields) for name, fields in shapes.items()}, ""


# send's INSERT ... SELECT: the new row's id without RETURNING rows to step through.
RETURNING_ID = ""


def inserted_id(cursor) -> int:
    return cursor.lastrowid


def append_events(conn, rows: list[tuple]) -> list[int]:
    """Store event rows in order, in one statement; returns their ids in that order.

    One statement inside the write transaction numbers its rows one after
    another, so the ids follow from the last one (no RETURNING rows to step through).
    """
    last = conn.execute(
        "INSERT INTO events (type, source, subject, time, data, scope) VALUES "
        + ",".join(["(?,?,?,?,?,?)"] * len(rows)),
        [value for row in rows for value in row]).lastrowid
    return list(range(last - len(rows) + 1, last + 1))


def last_id(conn, table: str) -> int:
    """The highest id `table` ever handed out (rows deleted since included)."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return seq[0] if seq else 0


def continue_ids(conn, tables: list[str]) -> None:
    """After rows were copied in with their ids: AUTOINCREMENT continues by itself."""


def analyse(conn) -> None:
    """Statistics for the planner (ANALYZE, bounded per index by
    analysis_limit): without any, a partial index such as the pending
    callbacks' loses to a scan of the whole table as it grows. A plain
    ANALYZE: PRAGMA optimize before SQLite 3.46 passes over every table no
    query of its own connection used. The limit samples about a thousand rows
    per index, so it costs milliseconds at any size."""
    conn.execute("PRAGMA analysis_limit = 1000")
    conn.execute("ANALYZE")


def row_key(table: str) -> str:
    """The column a bounded delete pages by (retention)."""
    return "rowid"


def table_figures(conn, table: str, made: str) -> tuple[int, int | None]:
    """(rows, when the oldest was made): rows estimated from the row ids (newest
    minus oldest plus one); two index look-ups whatever the table's size. Two
    subqueries: one SELECT asking min() and max() together scans the table."""
    row = conn.execute(f"SELECT (SELECT min(rowid) FROM {table}) AS lo,"
                       f" (SELECT max(rowid) FROM {table}) AS hi").fetchone()
    if row["lo"] is None:
        return 0, None
    oldest = conn.execute(f"SELECT {made} FROM {table} WHERE rowid = ?", (row["lo"],)).fetchone()
    return row["hi"] - row["lo"] + 1, oldest[0]


def maintain(conn, pages: int) -> int:
    """PRAGMA optimize, then give back up to `pages` free pages; the pages left
    free. executescript steps each pragma to the end (execute() frees one page)."""
    with conn.write_lock:
        conn.executescript(f"PRAGMA optimize; PRAGMA incremental_vacuum({int(pages)});")
    return conn.execute("PRAGMA freelist_count").fetchone()[0]


def size(path: str, conn=None) -> dict:
    """Health's db fields besides ok."""
    return {"path": os.path.abspath(path), "sizeBytes": _file_size(path),
            "walBytes": _file_size(path + "-wal")}


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Pool:
    """Idle connections to one database, reused across requests.

    Opening a connection and setting its pragmas costs more than a small
    query, so each request borrows one and gives it back at teardown. A list
    under a lock, newest first: queue.LifoQueue's get and put notify their
    condition variables in Python (1.5 us a request against 0.5 us here).
    """

    def __init__(self, path: str, synchronous: str = "FULL", size: int = 64):
        self.path = path
        self.synchronous = synchronous
        self.size = size
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return connect(self.path, self.synchronous)

    def release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def search_store():
    """The store module that searches messages on this engine (FTS5)."""
    from ..store import search_sqlite
    return search_sqlite


# SQLite has one writer and no row locks: a claim's SELECT takes its rows as it is.
SKIP_LOCKED = ""
