"""What every answer under /api carries, and the DEBUG access log.

API answers are private and never guessed at: `Cache-Control: no-store` (a
stream's own no-cache is kept) and `X-Content-Type-Options: nosniff`. At
RELAY_LOG_LEVEL=DEBUG each request is one line: method, path, status,
milliseconds.
"""
import logging
import time

from flask import g, request

log = logging.getLogger("relay.access")


def started() -> None:
    if log.isEnabledFor(logging.DEBUG):      # only the access log reads it
        g.started = time.monotonic()


def finished(response):
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
    if log.isEnabledFor(logging.DEBUG):
        took = (time.monotonic() - g.get("started", time.monotonic())) * 1000
        log.debug("%s %s %s %.1f ms", request.method, request.full_path.rstrip("?"),
                  response.status_code, took)
    return response


def install(app) -> None:
    app.before_request(started)
    app.after_request(finished)
