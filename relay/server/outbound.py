"""Where the relay itself may connect (task callbacks, orchestrator proxies).

README "Configuration", outbound requests: public addresses are always
allowed; loopback only for a URL set by the relay token's holder (which in
tokenless mode is everyone), never for one an integration token set;
link-local, private and every other special range only through
RELAY_OUTBOUND_ALLOW (CIDRs and host names). The check runs on the address
a name resolves to when connecting, and the socket connects to that checked
address, so a name that resolves elsewhere later (DNS rebinding) gains
nothing. http.client follows no redirect.
"""
import http.client
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from .settings import ConfigError

_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


class Refused(Exception):
    """The address may not be reached; the message says why."""


def kind_of(ip) -> str | None:
    """None for a public address, else what makes it special."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "non-public"
    return None


class OutboundPolicy:
    def __init__(self, allow: str | None):
        self.networks, self.hosts = [], set()
        for entry in (allow or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not _HOST_NAME.match(entry):
                    raise ConfigError("RELAY_OUTBOUND_ALLOW must be CIDRs, addresses or host "
                                      f"names, comma separated (got {entry[:60]!r})") from None
                self.hosts.add(entry.lower().rstrip("."))

    def refusal(self, host: str, ip, allow_loopback: bool) -> str | None:
        """Why `host` at `ip` may not be reached, or None when it may."""
        kind = kind_of(ip)
        if kind is None or (kind == "loopback" and allow_loopback):
            return None
        if host.lower().rstrip(".") in self.hosts or any(ip in n for n in self.networks):
            return None
        if kind == "loopback":
            return (f"{host} is {ip}, a loopback address: only a URL set with the relay token "
                    "may reach loopback, unless RELAY_OUTBOUND_ALLOW lists it")
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{host} is {ip}, {article} {kind} address not listed in RELAY_OUTBOUND_ALLOW"

    def check_literal(self, url: str, allow_loopback: bool) -> str | None:
        """When a URL is set: the refusal for a host that is an address
        (names are resolved and checked when connecting)."""
        host = urlsplit(url).hostname or ""
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM,
                                       flags=socket.AI_NUMERICHOST)
        except (OSError, UnicodeError):
            return None                          # a name
        for info in infos:
            reason = self.refusal(host, ipaddress.ip_address(info[4][0].split("%")[0]),
                                  allow_loopback)
            if reason:
                return reason
        return None

    def connector(self, allow_loopback: bool):
        """A socket.create_connection for http.client that connects only to
        checked addresses (Refused when every address is refused)."""
        def create_connection(address, timeout=None, source_address=None, **_):
            host, port = address
            refusals, last_error = [], None
            for family, kind, proto, _, sockaddr in socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM):
                reason = self.refusal(host, ipaddress.ip_address(sockaddr[0].split("%")[0]),
                                      allow_loopback)
                if reason:
                    refusals.append(reason)
                    continue
                sock = socket.socket(family, kind, proto)
                try:
                    if timeout is not None:
                        sock.settimeout(timeout)
                    if source_address:
                        sock.bind(source_address)
                    sock.connect(sockaddr)
                    return sock
                except OSError as error:
                    sock.close()
                    last_error = error
            if last_error is not None:
                raise last_error
            raise Refused("refused: " + refusals[0])
        return create_connection

    def connection(self, url: str, *, allow_loopback: bool, timeout: float):
        """An http.client connection to `url`'s host that connects only where allowed."""
        parts = urlsplit(url)
        kind = (http.client.HTTPSConnection if parts.scheme == "https"
                else http.client.HTTPConnection)
        conn = kind(parts.hostname, parts.port, timeout=timeout)
        conn._create_connection = self.connector(allow_loopback)
        return conn
