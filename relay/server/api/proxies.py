"""Orchestrator API proxies: directories, providers, sessions, version, logs.

A proxied GET never holds a request thread past its deadline: one 10 s
budget covers connecting, the answer's headers and its whole body (the
socket's timeout is cut to what remains before each read). An event
stream is passed through chunk by chunk on a stream slot, and ends when
the orchestrator sends nothing for 10 s (EventSource reconnects) or the
client goes away.
"""
import http.client
import json
import socket
import time
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, Response, request

from ..contract import route
from ..domain import orchestrators as domain
from ..errors import ApiError
from ..outbound import Refused
from ..store import orchestrators
from ..streaming import take_slot
from ..wire import CLOSE_AFTER, STREAM_SOCKET, client_address, sse_chunk
from . import conn, relay

bp = Blueprint("proxies", __name__, url_prefix="/api/orchestrators")

TIMEOUT = 10.0                 # seconds: the whole exchange (an idle gap, for a stream)
BODY_MAX = 8 * 1024 * 1024     # a proxied answer larger than this is a 502
# The orchestrator's own refusals of what the caller asked (a path outside its
# base dir, an unknown session), in the relay's error shape, reach the caller
# as they are. Its 401 is not the caller's to fix (the orchestrator's apiToken
# is wrong): that, any other status and anything else are a 502.
PASSED = {400: "the orchestrator's own 400 (e.g. a path outside its base dir), passed through",
          403: "apiUrl resolves to an address the outbound rules refuse (RELAY_OUTBOUND_ALLOW), "
               "or the orchestrator's own 403, passed through",
          404: "unknown orchestrator, or the orchestrator's own 404, passed through",
          409: "the orchestrator's own 409, passed through",
          410: "the orchestrator's own 410, passed through",
          422: "the orchestrator has no apiUrl or is not online, or the orchestrator's own 422, "
               "passed through"}
ANSWERS = {200: "the orchestrator's answer, passed through (JSON, or an event stream)",
           **PASSED,
           502: "the orchestrator's API is unreachable, timed out, answered 5xx, 401 (its "
                "apiToken is wrong) or another status, or a 4xx that is not a JSON error",
           503: "no stream slot free for an event stream"}
SUMMARY = ("Proxied to <apiUrl>/api/{name} with the orchestrator's own apiToken as "
           "Authorization: Bearer (never the relay token) and the query string kept less any "
           "token parameter; 10 s for the whole answer. The orchestrator's 200, and its 400, "
           "403, 404, 409, 410 and 422 when the body is a JSON {{\"error\": \"...\"}}, are "
           "passed through with their status and body; any other answer is a 502 (a 401: "
           "the apiToken is wrong). An event stream is streamed through on a stream slot. "
           "A proxied answer carries X-Content-Type-Options: nosniff and a "
           "Content-Security-Policy that runs nothing, and is sent as an attachment unless it "
           "is JSON or an event stream.")
# A proxied answer is the orchestrator's bytes served from the relay's origin,
# where the dashboard keeps its token: nothing in it may run or be sniffed.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox"}
INLINE_TYPES = ("application/json", "text/event-stream")


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


def proxy(orchestrator_id: str, path: str):
    orch = domain.proxy_target(conn(), orchestrator_id)
    url = urlsplit(orch["apiUrl"])
    # The caller's ?token= is the relay's secret, never the orchestrator's business.
    query = "&".join(part for part in request.query_string.decode("latin-1").split("&")
                     if unquote(part.partition("=")[0]) != "token")
    target = url.path.rstrip("/") + path + (f"?{query}" if query else "")
    headers = {"Accept": request.headers.get("Accept", "*/*")}
    api_token = orchestrators.api_token(conn(), orchestrator_id)
    if api_token:
        headers["Authorization"] = f"Bearer {api_token}"
    deadline = Deadline(TIMEOUT)
    try:
        # apiUrl is set only with the relay token: loopback is allowed (README, outbound).
        upstream = relay().outbound.connection(orch["apiUrl"], allow_loopback=True,
                                               timeout=TIMEOUT)
    except (ValueError, http.client.HTTPException) as error:     # a port out of range, ...
        raise ApiError(502, f"orchestrator {orchestrator_id} apiUrl cannot be reached: "
                       f"{error}") from None
    try:
        upstream.request("GET", target, headers=headers)
        sock = upstream.sock             # getresponse() may let go of it
        sock.settimeout(deadline.left())
        answer = upstream.getresponse()
        mimetype = answer.getheader("Content-Type") or "application/json"
        if answer.status == 200 and "text/event-stream" in mimetype:
            return stream_through(upstream, sock, answer, mimetype)
        body = read_all(answer, sock, deadline)
    except Refused as error:
        upstream.close()
        raise ApiError(403, f"orchestrator {orchestrator_id} apiUrl is {error}") from None
    except TimeoutError:
        upstream.close()
        raise ApiError(502, f"orchestrator {orchestrator_id} API did not answer within "
                       f"{deadline.seconds:g} s") from None
    except (OSError, ValueError, http.client.HTTPException) as error:   # ValueError: idna
        upstream.close()
        raise ApiError(502, f"orchestrator {orchestrator_id} API is unreachable: "
                       f"{error or type(error).__name__}") from None
    upstream.close()
    if answer.status != 200:
        if answer.status not in PASSED or not is_error(body, mimetype):
            raise ApiError(502, f"orchestrator {orchestrator_id} API answered {answer.status}")
        mimetype = "application/json"
    return Response(body, answer.status, content_type=mimetype, headers=safe_headers(mimetype))


def is_error(body: bytes, mimetype: str) -> bool:
    """Whether an answer is an error in the relay's shape: {"error": "..."}."""
    if mimetype.split(";")[0].strip().lower() != "application/json":
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), str)


def safe_headers(mimetype: str) -> dict:
    inline = mimetype.split(";")[0].strip().lower() in INLINE_TYPES
    return SAFE_HEADERS if inline else {**SAFE_HEADERS, "Content-Disposition": "attachment"}


def segment(name: str, value: str) -> str:
    """One path segment for the orchestrator's URL, or 400: `.`/`..` (also
    percent-encoded, for an upstream that decodes twice), `/` and control
    characters would address another path than the one named."""
    for text in (value, unquote(value)):
        if text in (".", "..") or "/" in text or any(ord(ch) < 32 or ord(ch) == 127
                                                     for ch in text):
            raise ApiError(400, f"{name} must be one path segment: not . or .., without / "
                           "or control characters (also percent-encoded)")
    return quote(value, safe="")


def read_all(answer, sock, deadline: Deadline) -> bytes:
    parts, size = [], 0
    while True:
        sock.settimeout(deadline.left())
        chunk = answer.read1(65536)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > BODY_MAX:
            raise http.client.HTTPException(f"answer larger than {BODY_MAX} bytes")
        parts.append(chunk)


def stream_through(upstream, sock, answer, mimetype: str) -> Response:
    try:
        holder = take_slot(relay(), "sse", client_address(request.environ))
    except ApiError:
        upstream.close()
        raise
    r = relay()

    def wake():
        # Shutdown: the read below returns at once instead of after its idle timeout.
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    r.stream_closers.add(wake)

    # Served by serving.py, an event stream frames its own HTTP chunks (streams.py).
    frame = sse_chunk if request.environ.get(STREAM_SOCKET) else bytes

    def chunks():
        try:
            while not r.closing.is_set():
                sock.settimeout(TIMEOUT)
                chunk = answer.read1(65536)
                if not chunk:
                    return
                yield frame(chunk)
        except (OSError, http.client.HTTPException):
            return                       # idle too long, or the orchestrator went away

    def cleanup():
        r.stream_closers.discard(wake)
        upstream.close()
        answer.close()
        r.slots.release("sse", holder)

    request.environ[CLOSE_AFTER] = True
    response = Response(chunks(), 200, content_type=mimetype,
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                 **SAFE_HEADERS})
    response.call_on_close(cleanup)
    return response


@route(bp, "GET", "/<orchestrator_id>/directories", SUMMARY.format(name="directories"),
       answers=ANSWERS)
def directories(orchestrator_id):
    return proxy(orchestrator_id, "/api/directories")


@route(bp, "GET", "/<orchestrator_id>/providers", SUMMARY.format(name="providers"),
       answers=ANSWERS)
def providers(orchestrator_id):
    return proxy(orchestrator_id, "/api/providers")


@route(bp, "GET", "/<orchestrator_id>/sessions", SUMMARY.format(name="sessions"),
       answers=ANSWERS)
def sessions(orchestrator_id):
    return proxy(orchestrator_id, "/api/sessions")


@route(bp, "GET", "/<orchestrator_id>/version", SUMMARY.format(name="version"), answers=ANSWERS)
def version(orchestrator_id):
    return proxy(orchestrator_id, "/api/version")


@route(bp, "GET", "/<orchestrator_id>/logs/<session>", SUMMARY.format(name="logs/<session>"),
       answers={**ANSWERS, 400: "session is . or .., or holds / or a control character; or "
                               "the orchestrator's own 400, passed through"},
       stream="text/event-stream")
def logs(orchestrator_id, session):
    return proxy(orchestrator_id, "/api/logs/" + segment("session", session))
