"""Every JSON answer the API gives, made the one way.

Flask's jsonify builds a new encoder per call and goes through its JSON
provider; on a route as hot as a send that is measurable. The relay's
bodies are plain dicts and lists, and a Record (a sent message) already
has its text from the event log.
"""
from flask import Response

from .store import dumps


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(body) + "\n", status, headers, mimetype="application/json")
