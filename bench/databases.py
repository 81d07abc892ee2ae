"""A fresh database for each run on either engine: a SQLite file in a
scratch directory, or a PostgreSQL database made for the run and dropped
after it (README: "Several relays on PostgreSQL")."""
import os
import uuid
from contextlib import contextmanager

from bench.common import cpu_seconds

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def fresh(engine: str, workdir: str, name: str, admin: str = PG_ADMIN):
    """Yields the RELAY_DB of an empty database (no schema yet)."""
    if engine == "sqlite":
        path = os.path.join(workdir, f"{name}.db")
        try:
            yield path
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        return
    import psycopg
    database = f"relay_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + database
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {database} WITH (FORCE)")


def speaks_postgres(source: str | None) -> bool:
    """Whether `source`'s relay (this checkout's when None) runs on PostgreSQL:
    one from before would take the URL for a SQLite file's name."""
    root = source or ROOT
    return os.path.exists(os.path.join(root, "relay", "server", "dialects", "postgres.py"))


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database `url` names (none
    for SQLite): their CPU is the server's too when the relay runs on PostgreSQL."""
    if not url.startswith(("postgresql:", "postgres:")):
        return []
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")]


def server_cpu(pids: list[int], url: str) -> dict:
    """{pid: CPU seconds so far} of the relay processes `pids` and of the
    database server's processes serving `url`; one gone (or not on this
    machine) is left out. Subtract with cpu_since."""
    figures = {}
    for pid in pids + backend_pids(url):
        try:
            figures[pid] = cpu_seconds(pid)
        except FileNotFoundError:
            pass
    return figures


def cpu_since(before: dict, after: dict) -> float:
    """CPU seconds spent between two server_cpu figures; a database connection
    opened in between counts from zero."""
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())
