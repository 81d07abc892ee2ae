"""The two databases the relay runs on, and the one place their SQL differs.

The store writes SQL once in the subset both engines share, with `?`
placeholders (the PostgreSQL connection turns them into psycopg's `%s`).
What the engines spell differently — JSON building and membership, the
event append, the write lock, the schema version, LISTEN — is a function of
the connection's `dialect` (dialects/sqlite.py, dialects/postgres.py).
"""


def object_pairs(fields: list[tuple[str, str, str]], forms: dict[str, str]) -> str:
    """A JSON object's "'key', expression" list; `forms` spells each form
    ('json': embedded JSON text, 'bool': a 0/1 flag) around `{}`."""
    return ", ".join(f"'{key}', {forms[form].format(expr) if form else expr}"
                     for key, expr, form in fields)


def is_postgres(url: str) -> bool:
    """RELAY_DB: a postgresql:// or postgres:// URL; anything else is a SQLite path."""
    return url.startswith(("postgresql://", "postgres://"))


def for_url(url: str):
    if is_postgres(url):
        from . import postgres
        return postgres
    from . import sqlite
    return sqlite
