"""ApiError and the handlers that turn every failure into a JSON error body."""
import logging
import uuid

from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from .domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused, Unprocessable
from .responses import json_response

log = logging.getLogger("relay")


class ApiError(Exception):
    """An answer other than success: status, one sentence, optional headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


# The one place a domain refusal becomes an HTTP status.
STATUS = {Invalid: 400, Forbidden: 403, NotFound: 404, Conflict: 409, Unprocessable: 422}


def status_of(error: Refused) -> int:
    return STATUS[type(error)]


def register(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return json_response({"error": error.message}, error.status, error.headers)

    @app.errorhandler(Refused)
    def refused(error: Refused):
        return json_response({"error": error.message}, status_of(error), error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: f"no route for {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
            413: f"request body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }
        message = messages.get(error.code, error.description or error.name)
        if isinstance(error, WebsocketMismatch):
            # A plain GET of the WebSocket route (werkzeug matches it only on an upgrade).
            message = f"GET {request.path} needs a WebSocket upgrade (Upgrade: websocket)"
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return json_response({"error": message}, error.code or 500, headers)

    @app.errorhandler(Exception)
    def internal_error(error: Exception):
        request_id = uuid.uuid4().hex[:16]
        log.exception("internal error %s on %s %s", request_id, request.method, request.path)
        return json_response({"error": "internal error", "requestId": request_id}, 500)
