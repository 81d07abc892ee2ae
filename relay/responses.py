"""Every JSON answer the API gives, made the one way.

Flask's jsonify builds a new encoder per call and goes through its JSON
provider; on a route as hot as a send that is measurable, and the relay's
bodies are plain dicts and lists, which a single shared encoder handles.
"""
import json

from flask import Response

_encode = json.JSONEncoder(separators=(",", ":")).encode


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(_encode(body) + "\n", status, headers, mimetype="application/json")
