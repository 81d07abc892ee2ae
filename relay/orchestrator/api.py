"""The orchestrator's own HTTP API, which the relay proxies (GET /api/orchestrators/:id/...).

Every request must carry the token the orchestrator generated at start and registered
with the relay as its apiToken, as `Authorization: Bearer <apiToken>` (compared in
constant time); errors are the relay's own shape, `{"error": "<sentence>"}`.

  GET /api/directories?path=   subdirectories of a directory inside the base dir
                               ({path, parent, directories: [{name, path}]}; outside: 400)
  GET /api/providers           [{name, command, available, version}]
  GET /api/sessions            the sessions it runs (the roster, with startedAt, exitedAt, cwd)
  GET /api/version             {version, orchestratorId, hostname, baseDir, tmux, python}
  GET /api/logs/<session>      an event stream: `log` events {session, lines} with the pane's
                               last 200 lines, then its new or changed lines (polled every
                               LOG_POLL s); `end` when the agent exits or the session
                               is gone
"""
import difflib
import hmac
import json
import logging
import platform
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import workspace
from .tmux import SAFE_NAME, TmuxError

log = logging.getLogger("relay.orchestrator")

LOG_LINES = 200
LOG_POLL = 0.5
KEEPALIVE = 5.0        # below the relay proxy's 10 s idle limit


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines of `after` that are new or changed since `before` (inserted or replaced,
    in order): output scrolling by, or a line being edited in place."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [line for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("insert", "replace")
            for line in after[j1:j2]]


class Api:
    """The routes, over the daemon's parts (no HTTP here)."""

    def __init__(self, daemon):
        self.daemon = daemon

    def directories(self, query: dict) -> dict:
        path = query.get("path")
        try:
            return workspace.listing(self.daemon.base_dir, path)
        except workspace.Outside as error:
            raise ApiError(400, f"path must be inside the base dir: {error}") from None
        except (NotADirectoryError, FileNotFoundError):
            raise ApiError(404, f"path {path} is not a directory") from None
        except PermissionError:
            raise ApiError(403, f"path {path} cannot be read") from None

    def providers(self, _query) -> list:
        return [p.describe() for p in self.daemon.providers.values()]

    def sessions(self, _query) -> list:
        return self.daemon.sessions.listing()

    def version(self, _query) -> dict:
        d = self.daemon
        return {"version": d.version, "orchestratorId": d.id, "hostname": d.hostname,
                "baseDir": d.base_dir, "tmux": d.tmux.version(),
                "python": platform.python_version()}

    def follow(self, session: str, stop: threading.Event):
        """(event, data) pairs for a session's log stream; None between polls."""
        if not SAFE_NAME.fullmatch(session) or not self.daemon.sessions.owns(session):
            raise ApiError(404, f"session {session} is not one of this orchestrator's")
        tmux = self.daemon.tmux
        try:
            before = tmux.capture(session, LOG_LINES)
        except TmuxError:
            raise ApiError(404, f"session {session} is not running in tmux") from None
        yield "log", {"session": session, "lines": before}
        while not stop.wait(LOG_POLL):
            try:
                pane = tmux.panes(session).get(session)
                after = tmux.capture(session, LOG_LINES) if pane else None
            except TmuxError:
                pane = None
            if pane is None:
                yield "end", {"session": session, "reason": "the tmux session is gone"}
                return
            lines = new_lines(before, after)
            before = after
            yield ("log", {"session": session, "lines": lines}) if lines else None
            if pane["dead"]:
                yield "end", {"session": session, "reason": "the agent exited"}
                return


def make_handler(api: Api, token: str, stop: threading.Event):
    class Handler(BaseHTTPRequestHandler):
        server_version = "relay-orchestrator"
        protocol_version = "HTTP/1.0"           # an event stream ends with the connection

        def log_message(self, fmt, *args):
            log.debug("api: " + fmt, *args)

        def send_json(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                value.strip().encode(), token.encode())

        def do_GET(self):
            try:
                if not self.authorized():
                    raise ApiError(401, "missing or wrong token: send the orchestrator's "
                                        "apiToken as Authorization: Bearer <token>")
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                route = {"/api/directories": api.directories, "/api/providers": api.providers,
                         "/api/sessions": api.sessions, "/api/version": api.version}.get(url.path)
                if route is not None:
                    return self.send_json(200, route(query))
                if url.path.startswith("/api/logs/"):
                    return self.stream(unquote(url.path[len("/api/logs/"):]))
                raise ApiError(404, f"no route GET {url.path}")
            except ApiError as error:
                self.send_json(error.status, {"error": error.message})
            except Exception:
                log.exception("api: GET %s failed", self.path)
                self.send_json(500, {"error": "internal error"})

        def stream(self, session: str) -> None:
            ended = threading.Event()
            events = api.follow(session, ended)
            first = next(events)                 # a 404 is raised before any header
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            sent, last = 0, time.monotonic()
            try:
                sent = self.frame(sent, *first)
                for item in events:
                    if stop.is_set():
                        break
                    if item is not None:
                        sent = self.frame(sent, *item)
                        last = time.monotonic()
                    elif time.monotonic() - last >= KEEPALIVE:
                        self.wfile.write(b": keepalive\n\n")
                        self.wfile.flush()
                        last = time.monotonic()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass                              # the client left
            finally:
                ended.set()

        def frame(self, sent: int, event: str, data: dict) -> int:
            sent += 1
            self.wfile.write(f"id: {sent}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            return sent

        def refuse(self):
            self.send_json(405, {"error": f"method {self.command} is not allowed: the "
                                          "orchestrator's API is read-only (GET)"})

        do_POST = do_PUT = do_PATCH = do_DELETE = refuse

    return Handler


class ApiServer:
    """ThreadingHTTPServer on (host, port); port 0 takes a free one (see .port)."""

    def __init__(self, api: Api, host: str, port: int, token: str):
        self.stop_event = threading.Event()
        self.server = ThreadingHTTPServer((host, port), make_handler(api, token, self.stop_event))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="orchestrator-api",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
