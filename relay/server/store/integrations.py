"""Integrations: external systems with their own tokens.

Only a token's sha256 is stored; a token is found by its hash. The rows of
origin 'env' mirror RELAY_INTEGRATION_TOKENS and are rewritten at start.
"""
import hashlib
import secrets

from . import dumps, loads

SCOPES = ("events:write", "tasks:write", "messages:write")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "rit_" + secrets.token_urlsafe(32)


def to_dict(row) -> dict:
    return {"name": row["name"], "scopes": loads(row["scopes"], []),
            "hasSecret": row["secret"] is not None, "origin": row["origin"],
            "eventCount": row["event_count"], "lastEventAt": row["last_event_at"],
            "createdAt": row["created_at"]}


def create(conn, name: str, scopes: list[str], secret: str | None,
           now: int) -> tuple[dict, str] | None:
    """A new integration and its token, which is never shown again; None when
    the name is taken."""
    token = new_token()
    row = conn.execute(
        """INSERT INTO integrations (name, token_hash, scopes, secret, created_at)
           VALUES (?,?,?,?,?) ON CONFLICT (name) DO NOTHING RETURNING *""",
        (name, hash_token(token), dumps(scopes), secret, now)).fetchone()
    return (to_dict(row), token) if row else None


def listing(conn) -> list[dict]:
    return [to_dict(r) for r in conn.execute("SELECT * FROM integrations ORDER BY name")]


def origin(conn, name: str) -> str | None:
    """Where the integration comes from ('api' or 'env'); None when there is none."""
    row = conn.execute("SELECT origin FROM integrations WHERE name = ?", (name,)).fetchone()
    return row["origin"] if row else None


def delete(conn, name: str) -> bool:
    return conn.execute("DELETE FROM integrations WHERE name = ?", (name,)).rowcount == 1


def by_token(conn, token: str) -> dict | None:
    row = conn.execute("SELECT * FROM integrations WHERE token_hash = ?",
                       (hash_token(token),)).fetchone()
    return to_dict(row) if row else None


def count_event(conn, name: str, now: int) -> None:
    conn.execute("UPDATE integrations SET event_count = event_count + 1, last_event_at = ? "
                 "WHERE name = ?", (now, name))


def sync_env(conn, tokens: dict[str, str], now: int) -> None:
    """Make the 'env' rows what RELAY_INTEGRATION_TOKENS says (every scope, no
    secret); a name it shares with an API-made integration takes that one over."""
    for name, token in tokens.items():
        conn.execute(
            """INSERT INTO integrations (name, token_hash, scopes, origin, created_at)
               VALUES (?,?,?, 'env', ?)
               ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash,
                   scopes = excluded.scopes, origin = 'env'""",
            (name, hash_token(token), dumps(list(SCOPES)), now))
    stale = [r["name"] for r in conn.execute("SELECT name FROM integrations WHERE origin = 'env'")
             if r["name"] not in tokens]
    for name in stale:
        conn.execute("DELETE FROM integrations WHERE name = ?", (name,))
