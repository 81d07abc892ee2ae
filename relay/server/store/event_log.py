"""The durable event log that streams replay from."""
import json

from . import dumps, loads


class Envelope(dict):
    """An event as clients see it. Its JSON text is made once, however many
    streams send it (a race only makes the same text twice)."""

    _text = None
    _forms = None
    depth = 0            # automation runs deep its change was caused (committer.commit)

    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self)
        return self._text

    def encoded(self, form: str, encode) -> bytes:
        """`encode(self)`, made once per wire form ("sse", "ws"), however many
        streams send it: fan-out to N streams costs one encoding, not N."""
        if self._forms is None:
            self._forms = {}
        found = self._forms.get(form)
        if found is None:
            found = self._forms[form] = encode(self)
        return found


def envelope(row) -> Envelope:
    return Envelope(id=row["id"], type=row["type"], source=row["source"],
                    subject=row["subject"], time=row["time"], data=loads(row["data"], {}))


def rows_for(events, now: int) -> list[tuple]:
    """Events as the column values append() takes."""
    return [(e.type, e.source, e.subject, now, dumps(e.data), dumps(e.scope) if e.scope else None)
            for e in events]


def append(conn, rows: list[tuple]) -> list[int]:
    """Store event rows in order; returns their ids in that order (each
    engine's way: dialects/*.py append_events, so that ids commit in order),
    and whom each concerns."""
    ids = conn.dialect.append_events(conn, rows)
    _index(conn, [(i, row[5]) for i, row in zip(ids, rows) if row[5]])
    return ids


def targets(scope: dict | None) -> set[str]:
    """The event_targets rows of one event: every agent of its scope and its
    `to` address (addresses.concerns matches an agent against exactly these)."""
    if not scope:
        return set()
    found = set(scope.get("agents") or ())
    if scope.get("to"):
        found.add(scope["to"])
    return found


def _index(conn, scoped: list[tuple[int, str]]) -> None:
    pairs = [(t, event_id) for event_id, scope in scoped for t in targets(json.loads(scope))]
    for start in range(0, len(pairs), 400):         # bound the statement's parameters
        chunk = pairs[start:start + 400]
        conn.execute("INSERT INTO event_targets (target, event_id) VALUES "
                     + ",".join(["(?,?)"] * len(chunk)), [v for pair in chunk for v in pair])


def index_logged(conn) -> None:
    """Fill event_targets for the events already logged (the migration adding it)."""
    position = 0
    while True:
        rows = conn.execute("SELECT id, scope FROM events WHERE id > ? AND scope IS NOT NULL"
                            " ORDER BY id LIMIT 1000", (position,)).fetchall()
        if not rows:
            return
        _index(conn, [(r[0], r[1]) for r in rows])
        position = rows[-1][0]


def concerning(conn, since: int, limit: int, addresses: list[str],
               types: list[str] | None = None) -> list[tuple[dict, dict | None]]:
    """Events with id > since whose scope names one of `addresses` (agent ids
    or `to` values), oldest first, as (envelope, scope): read through
    event_targets, so the cost follows those events, not the log's length."""
    marks = ",".join("?" * len(addresses))
    sql = ("SELECT * FROM events WHERE id IN (SELECT DISTINCT event_id FROM event_targets"
           f" WHERE target IN ({marks}) AND event_id > ?")
    args = [*addresses, since]
    if types:
        sql = ("SELECT * FROM events WHERE id IN (SELECT DISTINCT t.event_id FROM event_targets t"
               f" JOIN events e ON e.id = t.event_id WHERE t.target IN ({marks}) AND t.event_id > ?"
               " AND (" + " OR ".join("e.type LIKE ? ESCAPE '\\'" for _ in types) + ")")
        args += [_like_prefix(t) for t in types]
    rows = conn.execute(sql + " ORDER BY event_id LIMIT ?) ORDER BY id", (*args, limit))
    return [(envelope(r), json.loads(r["scope"]) if r["scope"] else None) for r in rows]


def after(conn, since: int, limit: int, types: list[str] | None = None) -> list[tuple[dict, dict | None]]:
    """Events with id > since, oldest first, as (envelope, scope)."""
    sql, args = "SELECT * FROM events WHERE id > ?", [since]
    if types:
        sql += " AND (" + " OR ".join("type LIKE ? ESCAPE '\\'" for _ in types) + ")"
        args += [_like_prefix(t) for t in types]
    rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit))
    return [(envelope(r), json.loads(r["scope"]) if r["scope"] else None) for r in rows]


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def first_kept_id(conn) -> int:
    """The lowest id a resume can still start after: below it, events were trimmed."""
    row = conn.execute("SELECT min(id) FROM events").fetchone()
    if row[0] is not None:
        return row[0]
    return latest_id(conn) + 1


def latest_id(conn) -> int:
    return conn.dialect.last_id(conn, "events")


def trim(conn, keep: int, older_than: int) -> int:
    """Drop events beyond the newest `keep`, and those older than `older_than` ms."""
    latest = latest_id(conn)
    count = conn.execute("DELETE FROM events WHERE id <= ?", (latest - keep,)).rowcount
    count += conn.execute("DELETE FROM events WHERE time < ?", (older_than,)).rowcount
    # Rows below the oldest kept event are gone with it; a row above it whose
    # event was trimmed by age is never read (concerning() reads events by id).
    conn.execute("DELETE FROM event_targets WHERE event_id < ?", (first_kept_id(conn),))
    return count
