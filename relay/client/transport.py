"""The HTTP client for the relay's API: one keep-alive connection per thread.

The standard library's `http.client` is enough: the relay speaks JSON over
HTTP/1.1 and Server-Sent Events, a persistent connection per thread makes a
call cost one round trip, and it keeps the hooks' start-up small (no
requests/urllib3/httpx to import). Every call has a hard timeout; a long poll
(`wait`) gets its wait on top of it.
"""
import http.client
import json
import os
import socket
import threading
import time
from urllib.parse import urlencode, urlsplit

DEFAULT_URL = "http://127.0.0.1:4850"
# Errors that mean a reused keep-alive connection was closed by the server
# before it read our request; the request is sent again once on a new one.
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
         ConnectionAbortedError)


class RelayError(Exception):
    """The relay answered an HTTP error: `status` and its `error` sentence."""

    def __init__(self, status, message, body=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class Unreachable(Exception):
    """The relay could not be reached (refused, timed out, dropped)."""

    def __init__(self, url, reason):
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


def _reason(error):
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[0].lower() + text[1:] if text else type(error).__name__


def _clean(fields):
    """A JSON body without the fields left at None."""
    return {k: v for k, v in fields.items() if v is not None}


class Transport:
    """Requests on one relay URL: connection per thread, timeouts, error mapping."""

    def __init__(self, url=None, token=None, timeout=10.0):
        self.url = (url or os.environ.get("RELAY_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("AGENT_RELAY_TOKEN")
        self.token = token or None
        self.timeout = timeout
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"relay URL must be http(s)://host[:port], not {self.url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.local = threading.local()

    # --- connections ---------------------------------------------------------------

    def connect(self, timeout):
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=timeout)

    def headers(self, extra=None):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Agent-Relay-Token"] = self.token
        headers.update(extra or {})
        return headers

    def target(self, path, query=None):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        for key, value in query.items():
            if isinstance(value, bool):
                query[key] = "1" if value else "0"
            elif isinstance(value, (list, tuple)):
                query[key] = ",".join(map(str, value))
        return self.prefix + path + ("?" + urlencode(query) if query else "")

    def close(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    # --- one request ---------------------------------------------------------------

    def call(self, method, path, body=None, query=None, timeout=None):
        """Decoded JSON of the answer; RelayError for an HTTP error, Unreachable else."""
        timeout = self.timeout if timeout is None else timeout
        data = json.dumps(body).encode() if body is not None else None
        headers = self.headers({"Content-Type": "application/json"} if data is not None else {})
        target = self.target(path, query)
        for attempt in (0, 1):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self.local.conn = self.connect(timeout)
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request(method, target, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except STALE as error:
                self.close()
                if reused and attempt == 0:
                    continue            # the server had closed an idle connection
                raise Unreachable(self.url, _reason(error)) from None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise Unreachable(self.url, _reason(error)) from None
            if response.will_close:
                self.close()
            return self.decode(response.status, raw)

    def decode(self, status, raw):
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if status >= 400:
            message = answer.get("error") if isinstance(answer, dict) else None
            text = raw.decode(errors="replace").strip()[:200]
            raise RelayError(status, message or text or f"HTTP {status}", answer)
        return answer

    # --- Server-Sent Events --------------------------------------------------------

    def stream(self, path, query, last_id=None, read_timeout=60.0):
        """(id, type, envelope) from one event stream until it ends or drops."""
        headers = self.headers({"Accept": "text/event-stream"})
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        conn = self.connect(self.timeout)
        try:
            try:
                conn.request("GET", self.target(path, query), headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise Unreachable(self.url, _reason(error)) from None
            if response.status >= 400:
                self.decode(response.status, response.read())
            # Keepalive comments arrive every RELAY_KEEPALIVE seconds: a longer
            # silence means the stream is dead.
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout)
            fields = {}
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException, ValueError) as error:
                    raise Unreachable(self.url, _reason(error)) from None
                if not line:
                    return
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
                    continue
                if "event" in fields or "data" in fields:
                    yield self.frame(fields)
                fields = {}
        finally:
            conn.close()

    @staticmethod
    def frame(fields):
        try:
            data = json.loads(fields.get("data") or "null")
        except ValueError:
            data = fields.get("data")
        raw_id = fields.get("id")
        event_id = int(raw_id) if raw_id and raw_id.isdigit() else None
        return event_id, fields.get("event", "message"), data


def backoff(attempt, cap=5.0):
    """Seconds to wait before retry number `attempt` (0.25 s doubling, capped)."""
    return min(cap, 0.25 * (2 ** min(attempt, 10)))


def sleep(seconds, stop=None):
    """Sleep, or return early (True) when the `stop` event is set."""
    if stop is not None:
        return stop.wait(seconds)
    time.sleep(seconds)
    return False
