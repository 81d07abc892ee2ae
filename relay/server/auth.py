"""The token check: the relay token, and integration tokens (README: Bridging a Slack channel),
each of which works only on the routes its scopes name."""
import hmac
import re

from flask import current_app, g, request

from .settings import ConfigError
from .contract import ID_PATTERN
from .errors import ApiError

OPEN_ROUTES = {"/api/health", "/api/spec"}
# The routes an integration token may use, by the scope each needs.
SCOPED_ROUTES = {
    ("POST", "/api/integrations/events"): "events:write",
    ("POST", "/api/tasks"): "tasks:write",
    ("POST", "/api/tasks/<id:task_id>/status"): "tasks:write",
    ("POST", "/api/tasks/<id:task_id>/events"): "tasks:write",
    ("POST", "/api/messages"): "messages:write",
}


def presented_token() -> str | None:
    # Straight from the WSGI environ (what request.headers reads, through a
    # proxy and a key rewrite): this runs before every /api request.
    environ = request.environ
    header = environ.get("HTTP_X_AGENT_RELAY_TOKEN")
    if header:
        return header
    bearer = presented_bearer()
    if bearer is not None:
        return bearer
    return request.args.get("token")


def presented_bearer() -> str | None:
    authorization = request.environ.get("HTTP_AUTHORIZATION")    # as presented_token
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str) -> bool:
    # compare_digest wants equal types; encode so non-ASCII input cannot raise.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def parse_integration_tokens(text: str | None) -> dict[str, str]:
    """RELAY_INTEGRATION_TOKENS: `name=token` pairs, comma separated."""
    tokens = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        name, _, token = pair.strip().partition("=")
        if not re.fullmatch(ID_PATTERN, name) or not token:
            raise ConfigError("RELAY_INTEGRATION_TOKENS must be name=token pairs, comma "
                              f"separated (got {pair.strip()[:40]!r})")
        tokens[name] = token
    return tokens


def integration_for(token: str) -> dict | None:
    from .api import conn
    from .store import integrations
    return integrations.by_token(conn(), token)


def require_token() -> None:
    """before_request hook for /api: the relay token opens everything; an
    integration token opens its scopes' routes (403 elsewhere); anything else
    is 401 when the relay has a token."""
    if not request.path.startswith("/api/") or request.path in OPEN_ROUTES:
        return
    expected = current_app.extensions["relay"].settings.token
    given = presented_token()
    if expected and token_matches(given, expected):
        return
    integration = integration_for(given) if given else None
    if integration is not None:
        check_scope(integration)
        g.integration = integration["name"]
        rate_limit(integration["name"], "requests")
        check_owner(integration)
        return
    # An unknown bearer token is an error even on a relay without a token: a
    # caller that means to be an integration must not silently act as anyone.
    if expected or presented_bearer() is not None:
        raise ApiError(401, "missing or invalid relay token (X-Agent-Relay-Token, Authorization: "
                       "Bearer, or ?token=), or an unknown integration token",
                       {"WWW-Authenticate": 'Bearer realm="relay"'})


def rate_limit(key: str, what: str) -> None:
    """RELAY_INTEGRATION_RATE_LIMIT per token per minute, or 429 with Retry-After."""
    r = current_app.extensions["relay"]
    wait = r.rate_limiter.take(key, r.clock())
    if wait:
        raise ApiError(429, f"more than {r.settings.integration_rate_limit} {what} a minute "
                       f"for this token: retry in {wait} s", {"Retry-After": str(wait)})


def check_owner(integration: dict) -> None:
    """An integration reaches only the tasks it opened."""
    task_id = (request.view_args or {}).get("task_id")
    if task_id is None:
        return
    from .api import conn
    from .store import tasks
    task = tasks.get(conn(), task_id)
    if task is not None and task["integration"] != integration["name"]:
        raise ApiError(403, f"integration {integration['name']} may act only on the tasks it "
                       f"opened (task {task_id} is not one)")


def check_scope(integration: dict) -> None:
    if request.url_rule is None:
        return                     # no such route: the 404 or 405 says so
    needed = SCOPED_ROUTES.get((request.method, request.url_rule.rule))
    if needed is None:
        raise ApiError(403, f"integration {integration['name']} may not use {request.method} "
                       f"{request.url_rule.rule} (integration tokens reach only "
                       "/api/integrations/events, POST /api/tasks, task status and events, "
                       "and POST /api/messages)")
    if needed not in integration["scopes"]:
        raise ApiError(403, f"integration {integration['name']} lacks the scope {needed}")
