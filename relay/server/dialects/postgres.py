"""PostgreSQL: any number of relay processes on one database (README: "Several
relays on PostgreSQL").

Connections come from psycopg 3 (the `relay[postgres]` extra) in autocommit
mode, like the SQLite ones: a write opens its own transaction (begin()).
Parameters are bound client-side (psycopg's ClientCursor): the store's SQL
is written once, with `?` placeholders and SQLite's loose typing in mind,
and a literal takes its type from where it stands, as it does there.

Write transactions run at once, across processes, at SERIALIZABLE
isolation (begin()): PostgreSQL makes every read-then-write of the store
(a claim, an idempotency key, a pool pick, a config version) behave as if
it ran alone, without auditing each one, and reports a conflict as
SQLSTATE 40001 (40P01 a deadlock); the committer runs the batch again
(retryable()). A change waits at most ROW_WAIT for a row another
transaction holds (55P03, run again too): two group-committed batches
that update the same rows (agents' presence) in opposite orders deadlock,
and PostgreSQL's deadlock_timeout (1 s, a superuser's setting) would stall
a whole batch that long before it tells.

Ids are appended in order: a reader that has seen event or message id N
has seen every id below it, so a resume, a `since` or an inbox cursor on
any process never skips a row that commits later (README: "Several
relays on PostgreSQL"). Of the two
ways to promise that with concurrent transactions, this serializes the
append rather than reading only below the oldest transaction in flight
(which costs a snapshot check on every read, a column on every row and a
delay on every live event): each table's ids are taken under its own
lock held to COMMIT, so they commit in id order. append_events() takes
the events' advisory lock in the round trip that inserts them (the
committer inserts them last, so it is held for that insert and COMMIT
only). A batch that inserts messages takes the messages' lock, a table
lock on MESSAGES_LOCK, in the round trip that begins it (begin(ordered=
True)): LOCK TABLE is the one statement that waits before a SERIALIZABLE
transaction takes its snapshot, so the snapshot follows the previous
sender's commit. Sends then do not conflict with each other over the
rows they all touch (a sender's presence, a counter), and a holder of
the messages' lock never waits for a row whose holder waits for that
lock (ordered() takes it at the insert, as a safety net, when a change
inserting messages was not declared so). The events' lock is a lock of
its own for the same reason: its holder only inserts and commits.
"""
import functools
import re
import sys
import threading
from urllib.parse import urlsplit, urlunsplit

try:
    import psycopg
    from psycopg.types.numeric import IntDumper
except ImportError:                         # pragma: no cover - the extra is not installed
    psycopg = None

from . import sqlite

name = "postgres"
Error = psycopg.Error if psycopg else Exception

EVENTS_LOCK = 0x52454C4159           # "RELAY": held from a transaction's event insert to COMMIT
LEADER_LOCK = EVENTS_LOCK + 1        # held for its session by the process running periodic work
SCHEMA_LOCK = EVENTS_LOCK + 2        # a schema change or a copy-db (begin_exclusive)
MESSAGES_LOCK = "relay_message_appends"     # a table of no rows, locked from a transaction's
#                                             first message insert to COMMIT
LOCK_MESSAGES = f"LOCK TABLE {MESSAGES_LOCK} IN EXCLUSIVE MODE"     # readers are not held
RETRYABLE = {"40001", "40P01", "55P03"}    # serialization failure, deadlock, lock_timeout
ROW_WAIT = "100ms"                   # the longest a change waits for another transaction's row
CHANNEL = "relay_events"             # NOTIFY carries the last event id a commit wrote


def require() -> None:
    if psycopg is None:
        raise RuntimeError("RELAY_DB is a PostgreSQL URL but psycopg is not installed: "
                           "pip install 'relay[postgres]'")


def redacted(url: str) -> str:
    """The URL without its password (health shows it)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


# --- connections ---------------------------------------------------------------------

class Row(tuple):
    """A row read by position or by column name, like sqlite3.Row."""
    __slots__ = ()
    _index: dict

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self):
        return list(self._index)


def _rows(cursor):
    description = cursor.description
    if description is None:
        return tuple
    return _row_type(tuple(c.name for c in description))


@functools.lru_cache(maxsize=1024)
def _row_type(names: tuple) -> type:
    return type("Row", (Row,), {"_index": {n: i for i, n in enumerate(names)}, "__slots__": ()})


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=4096)
def translate(sql: str, named: bool = False) -> str:
    """The store's placeholders (`?`, or `:name` with a dict) as psycopg's
    `%s` and `%(name)s`; a literal `%` doubled."""
    sql = sql.replace("%", "%%")
    return _NAMED.sub(r"%(\1)s", sql) if named else sql.replace("?", "%s")


class _BoolAsInt(IntDumper if psycopg else object):
    """Flags are INTEGER columns (0/1) on both engines."""

    def dump(self, obj):
        return b"1" if obj else b"0"


class Connection:
    """A psycopg connection with the sqlite3 calls the store makes."""

    dialect = sys.modules[__name__]

    def __init__(self, raw):
        self.raw = raw
        self.write_lock = threading.Lock()      # threads sharing this connection (the committer's)
        self.ordered = False                    # this transaction holds the messages' lock

    def execute(self, sql: str, params=()):
        cursor = self.raw.cursor(row_factory=_rows)
        if params:
            cursor.execute(translate(sql, isinstance(params, dict)), params)
        else:
            cursor.execute(sql)
        return cursor

    def executemany(self, sql: str, seq):
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), list(seq))
        return cursor

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()


def configure(raw) -> None:
    raw.adapters.register_dumper(bool, _BoolAsInt)


def raw_connect(url: str):
    require()
    raw = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
    configure(raw)
    return raw


def connect(url: str, synchronous: str = "FULL") -> Connection:
    return Connection(raw_connect(url))


def begin(conn, ordered: bool = False) -> None:
    """Open a write transaction, concurrent with other processes' (the module's
    docstring says how); `ordered`: it will insert messages, so it takes their
    lock before its snapshot."""
    conn.ordered = ordered
    conn.raw.execute("BEGIN ISOLATION LEVEL SERIALIZABLE" + (f"; {LOCK_MESSAGES}" if ordered
                                                              else "")
                     + f"; SET LOCAL lock_timeout = '{ROW_WAIT}'")     # one round trip


def ordered(conn) -> None:
    """Right before this transaction first inserts a message: the messages'
    lock, held to COMMIT, so their ids commit in order."""
    if not conn.ordered:
        conn.raw.execute(f"SET LOCAL lock_timeout = 0; {LOCK_MESSAGES}; "
                         f"SET LOCAL lock_timeout = '{ROW_WAIT}'")
        conn.ordered = True


def retryable(error: BaseException) -> bool:
    """Whether running the transaction again may succeed: a serialization
    failure or a deadlock, which SERIALIZABLE reports instead of a wrong answer,
    or a row waited for longer than ROW_WAIT."""
    return getattr(error, "sqlstate", None) in RETRYABLE


def begin_exclusive(conn) -> None:
    """A transaction no other exclusive one overlaps (a schema change, a
    copy-db), at READ COMMITTED: each statement after the lock sees what the
    previous holder committed."""
    conn.ordered = False
    conn.raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")     # one round trip


# --- the schema --------------------------------------------------------------------

_DDL = [
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", re.I),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),        # times are milliseconds: 64 bits
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\)\s*WITHOUT ROWID;"), ");"),     # SQLite's clustered table: a heap here
]


def ddl(script: str) -> str:
    """The shared schema text in PostgreSQL's types: the same tables, indexes
    and migrations; 64-bit integers, identity columns for AUTOINCREMENT."""
    for pattern, replacement in _DDL:
        script = pattern.sub(replacement, script)
    return script


statements = sqlite.statements


def open_hint(url: str) -> str:
    return "is the server up, and the database made (createdb)?"


def before_schema(conn) -> None:
    """PostgreSQL reclaims space by autovacuum: nothing to switch on."""


def after_schema(conn) -> None:
    pass


def schema_version(conn) -> int:
    # Inside begin_exclusive(): two processes starting at once, the second waits, then
    # sees the first's version.
    conn.raw.execute("CREATE TABLE IF NOT EXISTS relay_schema (version BIGINT NOT NULL); "
                     f"CREATE TABLE IF NOT EXISTS {MESSAGES_LOCK} ()")
    row = conn.execute("SELECT version FROM relay_schema").fetchone()
    return row[0] if row else 0


def set_schema_version(conn, version: int) -> None:
    conn.execute("DELETE FROM relay_schema")
    conn.execute("INSERT INTO relay_schema (version) VALUES (?)", (int(version),))


# --- what the engines spell differently -----------------------------------------------

def json_has(column: str) -> str:
    return f"jsonb_exists(({column})::jsonb, ?)"


def json_append(column: str) -> str:
    # Written compact, as SQLite's json_insert writes it: the poll embeds the text as stored.
    return (f"(CASE WHEN ({column}) = '[]' THEN '[' ELSE left({column}, -1) || ',' END"
            " || to_json(?::text)::text || ']')")


# json_build_object writes `"key" : value, ` and json_agg `, ` between items: a poll of
# 50 messages was 14% larger than SQLite's. row_to_json writes a row compact, its
# columns in order, and a LATERAL projection names them (as the planner flattens it,
# a poll of 50 costs less than with json_build_object); JSON text columns are
# embedded as stored. Both engines answer the same bytes.
_FORMS = {"": "{}", "json": "({})::json", "bool": "(({}) <> 0)"}


def json_objects(alias: str, shapes: dict[str, list[tuple[str, str, str]]]) -> tuple[dict, str]:
    """Per shape (its fields: key, expression on `alias`'s columns, form), an
    expression writing `alias`'s row as that JSON object's text; and what the
    FROM clause needs after `alias` for them."""
    joins = "".join(
        f" CROSS JOIN LATERAL (SELECT "
        + ", ".join(f'{_FORMS[form].format(expr)} AS "{key}"' for key, expr, form in fields)
        + f") AS {alias}_{name}" for name, fields in shapes.items())
    return {name: f"row_to_json({alias}_{name})::text" for name in shapes}, joins


def json_array(expression: str, order: str = "id") -> str:
    # string_agg of no rows is NULL where SQLite's json_group_array is '[]'.
    return f"coalesce('[' || string_agg({expression}, ',' ORDER BY {order}) || ']', '[]')"


RETURNING_ID = " RETURNING id"


def inserted_id(cursor) -> int:
    return cursor.fetchone()[0]


def append_events(conn, rows: list[tuple]) -> list[int]:
    """Store event rows in order; returns their ids in that order. Under the
    events' lock, taken in the same round trip and held to COMMIT (the
    module's docstring). The NOTIFY is delivered at COMMIT, to every relay
    process listening (event_tail.py)."""
    cursor = conn.execute(
        f"SET LOCAL lock_timeout = 0; SELECT pg_advisory_xact_lock({EVENTS_LOCK}); "
        "WITH e AS (INSERT INTO events (type, source, subject, time, data, scope) VALUES "
        + ",".join(["(?,?,?,?,?,?)"] * len(rows)) + " RETURNING id) "
        "SELECT e.id FROM e CROSS JOIN (SELECT pg_notify(?, max(id)::text) FROM e) AS n "
        "ORDER BY e.id",
        [*(value for row in rows for value in row), CHANNEL])
    while cursor.nextset():
        pass
    return [r[0] for r in cursor.fetchall()]


def last_id(conn, table: str) -> int:
    """The highest id a reader starting "from now" has seen (`table`: events).
    Ids in flight are above every committed one (append_events), so that is
    the highest kept; with none kept, the sequence's last value, read once
    no append is in flight (one may hold that id and commit later)."""
    row = conn.execute(f"SELECT max(id) FROM {table}").fetchone()
    if row[0] is not None:
        return row[0]
    return conn.execute(
        "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0) "
        f"FROM (SELECT pg_advisory_xact_lock_shared({EVENTS_LOCK})) AS appended",
        (table,)).fetchone()[0]


def continue_ids(conn, tables: list[str]) -> None:
    """After rows were copied in with their ids: each identity column goes on
    after the highest one (copy_db.py)."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE is_identity = 'YES' AND table_schema = current_schema()").fetchall()
    for table, column in rows:
        if table in tables:
            conn.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), "
                         f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)",
                         (table, column))


def analyse(conn) -> None:
    """Autovacuum keeps PostgreSQL's statistics."""


# Tables with an identity column (AUTOINCREMENT in the schema); the others page by ctid.
IDENTITY = {"activity": "id", "messages": "id", "events": "id", "tasks": "id",
            "task_events": "id", "callback_deliveries": "id", "channel_bindings": "id",
            "pairs": "id", "commands": "seq", "recipe_instances": "seq", "automations": "seq",
            "automation_runs": "id"}


def row_key(table: str) -> str:
    return IDENTITY.get(table, "ctid")


def table_figures(conn, table: str, made: str) -> tuple[int, int | None]:
    key = IDENTITY.get(table)
    if key is None:                          # no row ids to estimate from: counted
        row = conn.execute(f"SELECT count(*), min({made}) FROM {table}").fetchone()
        return row[0], row[1]
    row = conn.execute(f"SELECT min({key}), max({key}) FROM {table}").fetchone()
    if row[0] is None:
        return 0, None
    oldest = conn.execute(f"SELECT {made} FROM {table} WHERE {key} = ?", (row[0],)).fetchone()
    return row[1] - row[0] + 1, oldest[0] if oldest else None


def maintain(conn, pages: int) -> int:
    """PostgreSQL's autovacuum analyses and reclaims space by itself."""
    return 0


def size(url: str, conn) -> dict:
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return {"path": redacted(url), "sizeBytes": row[0]}


class Pool:
    """A bounded pool (RELAY_PG_POOL, default 16, opened lazily from 2):
    a request borrows one connection and gives it back at teardown; a
    held long poll or stream gives it back before it waits."""

    def __init__(self, url: str, synchronous: str = "FULL", size: int = 16):
        require()
        from psycopg_pool import ConnectionPool
        self.url = url
        self._pool = ConnectionPool(
            url, min_size=min(2, size), max_size=size, open=False, timeout=30,
            kwargs={"autocommit": True, "cursor_factory": psycopg.ClientCursor},
            configure=configure, name="relay")
        self._opened = False
        self._open_lock = threading.Lock()

    def acquire(self) -> Connection:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
        return Connection(self._pool.getconn())

    def release(self, conn: Connection) -> None:
        if not conn.raw.closed and conn.in_transaction:
            conn.raw.execute("ROLLBACK")
        self._pool.putconn(conn.raw)

    def close(self) -> None:
        if self._opened:
            self._pool.close()


def search_store():
    """The store module that searches messages on this engine (a tsvector and GIN)."""
    from ..store import search_postgres
    return search_postgres


# Ends the SELECT of a claim that takes rows (store/deliveries.py claim()): rows another
# transaction is taking are skipped, not waited for.
SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
