"""ApiError and the handlers that turn every failure into a JSON error body."""
import logging
import uuid

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

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


def _answer(status: int, body: dict, headers: dict | None = None):
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return _answer(error.status, {"error": error.message}, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: f"no route for {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
            413: f"request body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }
        message = messages.get(error.code, error.description or error.name)
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return _answer(error.code or 500, {"error": message}, headers)

    @app.errorhandler(Exception)
    def internal_error(error: Exception):
        request_id = uuid.uuid4().hex[:16]
        log.exception("internal error %s on %s %s", request_id, request.method, request.path)
        return _answer(500, {"error": "internal error", "requestId": request_id})
