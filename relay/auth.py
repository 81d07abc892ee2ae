"""The relay token check (API.md §0)."""
import hmac

from flask import current_app, request

from .errors import ApiError

OPEN_ROUTES = {"/api/health", "/api/spec"}


def presented_token() -> str | None:
    header = request.headers.get("X-Agent-Relay-Token")
    if header:
        return header
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.args.get("token")


def token_matches(given: str | None, expected: str) -> bool:
    # compare_digest wants equal types; encode so non-ASCII input cannot raise.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_token() -> None:
    """before_request hook for /api: 401 unless the relay token is presented."""
    expected = current_app.extensions["relay"].settings.token
    if not expected or not request.path.startswith("/api/") or request.path in OPEN_ROUTES:
        return
    if not token_matches(presented_token(), expected):
        raise ApiError(401, "missing or invalid relay token (X-Agent-Relay-Token, Authorization: "
                       "Bearer, or ?token=)", {"WWW-Authenticate": 'Bearer realm="relay"'})
