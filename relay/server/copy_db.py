"""`relay copy-db --from relay.db --to postgresql://...`: a SQLite relay's data
into an empty database (README: "Several relays on PostgreSQL").

The destination is created or migrated to the same schema first; every
table is copied row for row in schema order (a parent before the rows that
reference it), ids included, and each identity column then continues after
the highest id copied, so cursors and Last-Event-IDs held by clients stay
valid. Nothing is copied into a destination that already holds data.
"""
from . import db

BATCH = 500
SKIPPED = {"sqlite_sequence", "relay_schema"}


class CopyError(RuntimeError):
    pass


def tables(conn) -> list[str]:
    """The source's tables in creation order; a full-text index (a virtual
    table and its shadow tables) is the destination's to build, not copied."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
    rows = [(name, sql or "") for name, sql in rows]
    virtual = tuple(name for name, sql in rows if sql.upper().startswith("CREATE VIRTUAL"))
    return [name for name, _ in rows if name not in SKIPPED and not name.startswith("sqlite_")
            and not (virtual and name.startswith(virtual))]


def copy(source: str, target: str) -> dict[str, int]:
    """Copy every row of the SQLite database `source` into `target`; rows per table."""
    if db.dialects.is_postgres(source):
        raise CopyError("--from must be a SQLite file")
    db.init(source)                     # an older file is brought to this schema first
    db.init(target)
    src, dst = db.connect(source), db.connect(target)
    copied = {}
    try:
        names = tables(src)
        with db.transaction(dst):
            for name in names:
                if dst.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone():
                    raise CopyError(f"{db.url_shown(target)} already holds data (table {name})")
            for name in names:
                copied[name] = _copy_table(src, dst, name)
            dst.dialect.continue_ids(dst, names)
    finally:
        src.close()
        dst.close()
    return copied


def _copy_table(src, dst, name: str) -> int:
    cursor = src.execute(f"SELECT * FROM {name}")
    columns = [d[0] for d in cursor.description]
    insert = (f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
              f"({', '.join('?' * len(columns))})")
    count = 0
    while True:
        rows = cursor.fetchmany(BATCH)
        if not rows:
            return count
        dst.executemany(insert, [tuple(r) for r in rows])
        count += len(rows)


def main(source: str, target: str) -> int:
    """The `relay copy-db` command: prints rows per table; 1 when refused."""
    import sys
    try:
        copied = copy(source, target)
    except (CopyError, db.SchemaError) as error:
        print(f"relay: copy-db: {error}", file=sys.stderr)
        return 1
    for name, count in copied.items():
        print(f"{name}: {count}")
    print(f"relay: copied {sum(copied.values())} rows into {db.url_shown(target)}")
    return 0
