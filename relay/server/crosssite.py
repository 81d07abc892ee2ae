"""What stops another web site from driving the relay through a browser
(README "Configuration", cross-site), checked before the token:

- a `Host` the relay does not serve is 421 (DNS rebinding: a foreign name
  that resolves to the relay's address);
- an `Origin` other than the relay's own and those in RELAY_ALLOWED_ORIGINS
  is 403, the WebSocket handshake included;
- a POST, PUT, PATCH or DELETE whose body is not JSON is 415: a form or
  text/plain body is what a page may send another origin without asking
  (an empty body without a Content-Type stays fine for curl).

Tokenless mode stays convenient for curl (which sends no Origin) and for the
dashboard (same origin).
"""
import ipaddress
import socket

from flask import request

from .errors import ApiError

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
ALL_ADDRESSES = {"0.0.0.0", "::", ""}


def _split(text: str | None) -> set[str]:
    return {part.strip().lower().rstrip("/") for part in (text or "").split(",") if part.strip()}


def machine_names() -> set[str]:
    """The machine's own names and addresses (a relay bound to every address)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for name in list(names):
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    return names


class CrossSite:
    def __init__(self, settings):
        self.origins = _split(settings.allowed_origins)
        self.hosts = _split(settings.allowed_hosts) | {settings.host.lower().strip("[]")}
        if settings.host.strip("[]") in ALL_ADDRESSES:
            self.hosts |= machine_names()

    def host_served(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self.hosts or name in LOOPBACK_NAMES or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def check(self) -> None:
        """before_request hook."""
        host = request.host.lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if not self.host_served(name.strip("[]")):
            raise ApiError(421, f"Host {request.host[:100]!r} is not a name this relay serves "
                           "(loopback names, its bound address, RELAY_ALLOWED_HOSTS)")
        origin = request.headers.get("Origin")
        if origin is not None:
            own = f"{request.scheme}://{host}"
            if origin.lower().rstrip("/") not in self.origins | {own}:
                raise ApiError(403, f"Origin {origin[:100]!r} is not this relay's own and not "
                               "in RELAY_ALLOWED_ORIGINS")
        if request.method in WRITES and request.path.startswith("/api/"):
            has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
                "Transfer-Encoding", "").lower()
            if request.mimetype != "application/json" and (request.mimetype or has_body):
                raise ApiError(415, "Content-Type must be application/json")


def install(app, settings) -> None:
    guard = CrossSite(settings)
    app.extensions["relay.crosssite"] = guard
    app.before_request(guard.check)
