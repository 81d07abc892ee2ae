"""Which client a request comes from, for the per-client limits (stream slots,
connections): the peer's address, or, when the peer is a trusted proxy
(RELAY_TRUSTED_PROXIES, README "Configuration"), the right-most address of its
`X-Forwarded-For` that is not itself a trusted proxy. Entries left of that one
were written by the client and prove nothing, so they are never read."""
import ipaddress

from .settings import ConfigError


def _address(text: str):
    """An IP address from an X-Forwarded-For entry or a peer ("[::1]:80",
    "10.0.0.1:5000" and IPv4-mapped IPv6 included), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return getattr(ip, "ipv4_mapped", None) or ip


class TrustedProxies:
    def __init__(self, spec: str | None):
        self.networks = []
        for entry in (spec or "").split(","):
            if entry.strip():
                try:
                    self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    raise ConfigError(f"RELAY_TRUSTED_PROXIES: {entry.strip()!r} is not an "
                                     "IP address or CIDR") from None

    def trusts(self, ip) -> bool:
        return ip is not None and any(ip.version == n.version and ip in n for n in self.networks)

    def is_proxy(self, peer: str) -> bool:
        return bool(self.networks) and self.trusts(_address(peer))

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The address the per-client limits count this request under."""
        ip = _address(peer) if self.networks else None
        if not self.trusts(ip):
            return peer
        for entry in reversed((forwarded_for or "").split(",")):
            found = _address(entry)
            if found is None:
                # Not an address: whoever wrote it is not to be believed; the
                # proxy that passed it on is the last one known.
                return str(ip)
            ip = found
            if not self.trusts(found):
                return str(found)
        return str(ip)              # the chain is all proxies: the first of them
