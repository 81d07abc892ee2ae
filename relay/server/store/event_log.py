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
    """Store event rows in order, in one statement; returns their ids in that order.

    One statement inside the write transaction numbers its rows one after
    another, so the ids follow from the last one (no RETURNING rows to step through).
    """
    last = conn.execute(
        "INSERT INTO events (type, source, subject, time, data, scope) VALUES "
        + ",".join(["(?,?,?,?,?,?)"] * len(rows)),
        [value for row in rows for value in row]).lastrowid
    return list(range(last - len(rows) + 1, last + 1))


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
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return (seq[0] if seq else 0) + 1


def latest_id(conn) -> int:
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return seq[0] if seq else 0


def trim(conn, keep: int, older_than: int) -> int:
    """Drop events beyond the newest `keep`, and those older than `older_than` ms."""
    latest = latest_id(conn)
    count = conn.execute("DELETE FROM events WHERE id <= ?", (latest - keep,)).rowcount
    count += conn.execute("DELETE FROM events WHERE time < ?", (older_than,)).rowcount
    return count
