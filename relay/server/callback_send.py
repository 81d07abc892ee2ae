"""One try at one callback delivery: its POST, and what the answer means.

Every way a try can end is an outcome, never an exception: a 2xx is
delivered; a network error, a timeout and a 5xx are worth another try; an
address the outbound rules refuse (outbound.py), any other answer
(a 3xx is not followed, a 4xx) and anything else that goes wrong (a URL
http.client cannot send, written by an older relay) end the delivery as
failed, with the reason recorded.

`timeout` bounds each connection attempt and, once connected, the whole
exchange: a receiver answering a byte at a time is cut when it runs out, so
a try never outlasts the lease its row was taken with (callbacks.py).
"""
import http.client
import socket
import threading
from typing import NamedTuple
from urllib.parse import urlsplit

from relay import __version__
from .outbound import OutboundPolicy, Refused


class Outcome(NamedTuple):
    status: int | None          # the receiver's HTTP status
    error: str | None           # None: delivered
    retry: bool                 # worth another try


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _cut(conn, expired: threading.Event) -> None:
    """The watchdog: ends the exchange of a try past its timeout (a blocked read
    returns at once once its socket is shut down)."""
    expired.set()
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass                                # already closed


def post(row, policy: OutboundPolicy, timeout: float) -> Outcome:
    headers = {"Content-Type": "application/json", "User-Agent": f"relay/{__version__}",
               "X-Relay-Event": row["event"], "X-Relay-Delivery": str(row["id"])}
    if row["signature"]:
        headers["X-Relay-Signature"] = row["signature"]
    conn = watchdog = None
    expired = threading.Event()
    try:
        url = urlsplit(row["url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL with a host: {row['url'][:200]!r}")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        conn = policy.connection(row["url"], allow_loopback=not row["integration"],
                                 timeout=timeout)
        watchdog = threading.Timer(timeout, _cut, (conn, expired))
        watchdog.daemon = True
        watchdog.start()
        conn.request("POST", path, body=row["body"].encode(), headers=headers)
        if expired.is_set():           # cut while connecting, before there was a socket to cut
            raise TimeoutError
        response = conn.getresponse()
        response.read()
        if expired.is_set():           # a cut answer can still parse (headers end at EOF)
            raise TimeoutError
    except Refused as error:
        return Outcome(None, str(error), False)
    except TimeoutError:
        return Outcome(None, "timed out", True)
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            return Outcome(None, "timed out", True)
        return Outcome(None, str(error) or type(error).__name__, True)
    except Exception as error:        # noqa: BLE001 - a try that cannot be made is a failure
        return Outcome(None, f"cannot be sent: {describe(error)}", False)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if conn is not None:
            conn.close()
    if 200 <= response.status < 300:
        return Outcome(response.status, None, False)
    return Outcome(response.status, f"HTTP {response.status}", response.status >= 500)
