"""PostgreSQL for the tests: one database per test, made from a template
that holds the schema (README: "Several relays on PostgreSQL").

RELAY_TEST_PG names the server (default: the local one, trust auth); when
none is reachable the PostgreSQL half of the route tests is skipped, and
the run's summary says so.
"""
import os
import threading
import uuid

import pytest

ADMIN_URL = os.environ.get("RELAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_state: dict = {}


def base() -> str:
    return ADMIN_URL.rsplit("/", 1)[0]


def unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); asked once per run."""
    if "why" not in _state:
        try:
            import psycopg
            psycopg.connect(ADMIN_URL, connect_timeout=3, autocommit=True).close()
            _state["why"] = None
        except Exception as error:       # not installed, not running, refused
            _state["why"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return _state["why"]


def _admin(sql: str) -> None:
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _template() -> str:
    """A database with the current schema, made once per run and copied per test."""
    if "template" not in _state:
        from relay.server import db
        name = f"relay_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        _admin(f"CREATE DATABASE {name}")
        db.init(f"{base()}/{name}")
        _state["template"] = name
    return _state["template"]


def create(empty: bool = False) -> str:
    """A new database with the schema (or `empty`: none, for a migration test); its URL."""
    name = f"relay_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}" + ("" if empty else f" TEMPLATE {_template()}"))
    return f"{base()}/{name}"


def drop(url: str) -> None:
    _admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def finish() -> None:
    template = _state.pop("template", None)
    if template:
        drop(f"{base()}/{template}")


def only(test):
    """Skip `test` when no PostgreSQL server is reachable."""
    return pytest.mark.skipif(unreachable() is not None,
                              reason=f"PostgreSQL not reachable at {ADMIN_URL}")(test)


def waits_for_a_lock(watcher, conn) -> bool:
    """Whether `conn`'s backend is waiting for a lock (asked of the server, not timed)."""
    pid = conn.raw.info.backend_pid
    return watcher.execute("SELECT count(*) FROM pg_locks WHERE pid = ? AND NOT granted",
                           (pid,)).fetchone()[0] > 0


def until(condition) -> None:
    """Wait for `condition()` to hold (a state another connection reaches)."""
    for _ in range(2000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError("the condition never held")
