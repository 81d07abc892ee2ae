"""RELAY_TRUSTED_PROXIES: behind a load balancer the per-client limits count
the client its X-Forwarded-For names, and from any other peer the header is
ignored. Against a real waitress server; other peers are other loopback
addresses (127.0.0.2, ...)."""
import time

import pytest

from relay.server.settings import ConfigError, parse
from relay.server.forwarded import TrustedProxies
from tests.test_connections import closed_by_server, closed_once, connect, health

PROXY, OTHER = "127.0.0.2", "127.0.0.3"


def stream(port, source, forwarded_for=None, path="/api/events"):
    """Open a stream from `source`; its status and the socket (kept open)."""
    sock = connect(port, source)
    extra = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return int(head.split(b" ", 2)[1]), sock


@pytest.fixture
def behind_proxy(live_factory):
    live = live_factory(max_streams=20, max_streams_per_client=2, keepalive=30,
                        trusted_proxies=f"10.0.0.0/8, {PROXY}")
    live.request("POST", "/api/agents", {"id": "a"})
    opened = []

    def status(source, forwarded_for=None, path="/api/events"):
        code, sock = stream(live.port, source, forwarded_for, path)
        opened.append(sock)
        return code

    yield live, status
    for sock in opened:
        sock.close()


def test_the_stream_cap_counts_each_forwarded_client_of_a_trusted_proxy(behind_proxy):
    live, status = behind_proxy
    assert [status(PROXY, "203.0.113.7") for _ in range(2)] == [200, 200]
    assert status(PROXY, "203.0.113.7") == 503
    assert status(PROXY, "203.0.113.7", "/api/messages?for=a&wait=5") == 503
    # A client cannot pose as another by writing its own entries to the left, and
    # a chain of trusted proxies (10.0.0.0/8) is passed over to the client.
    assert status(PROXY, "198.51.100.1, 203.0.113.7") == 503
    assert status(PROXY, "203.0.113.7, 10.1.2.3") == 503
    # Other clients behind the same proxy have their own slots.
    assert [status(PROXY, "203.0.113.8") for _ in range(2)] == [200, 200]
    assert status(PROXY, "198.51.100.1, 203.0.113.9, 10.9.9.9") == 200
    assert status(PROXY, "[2001:db8::1]:5000") == 200
    assert health(live.port, PROXY) == 200


def test_the_header_is_ignored_from_a_peer_that_is_not_a_trusted_proxy(behind_proxy):
    live, status = behind_proxy
    assert [status(OTHER, f"203.0.113.{i}") for i in (1, 2)] == [200, 200]
    assert status(OTHER, "203.0.113.3") == 503
    assert status(OTHER) == 503
    assert status(OTHER, "203.0.113.3", "/api/messages?for=a&wait=5") == 503
    # The proxy itself, without the header, is one client too.
    assert [status(PROXY) for _ in range(3)] == [200, 200, 503]


def test_a_trusted_proxys_connections_are_not_capped_per_client(live_factory):
    live = live_factory(max_connections_per_client=5, trusted_proxies=PROXY)
    proxied = [connect(live.port, PROXY, timeout=0.05) for _ in range(10)]
    direct = [connect(live.port, OTHER, timeout=0.05) for _ in range(10)]
    try:
        closed = closed_once(direct, 5)
        assert len(closed) == 5
        assert not any(closed_by_server(sock) for sock in proxied)
        assert live.server.waitress.relay_limits.clients.get(OTHER) == 5
        assert PROXY not in live.server.waitress.relay_limits.clients
        assert health(live.port, PROXY) == 200
    finally:
        for sock in proxied + direct:
            sock.close()


@pytest.mark.parametrize("peer, header, client", [
    ("10.0.0.5", None, "10.0.0.5"),                       # no header: the proxy itself
    ("10.0.0.5", "", "10.0.0.5"),
    ("10.0.0.5", "10.0.0.1, 10.0.0.2", "10.0.0.1"),       # all proxies: the first
    ("10.0.0.5", "not-an-address, 10.0.0.2", "10.0.0.2"),  # garbage: the last proxy known
    ("10.0.0.5", "192.0.2.1:8080", "192.0.2.1"),
    ("::ffff:10.0.0.5", "192.0.2.1", "192.0.2.1"),        # an IPv4-mapped peer
    ("192.0.2.50", "192.0.2.1", "192.0.2.50"),            # not trusted: the header is ignored
])
def test_which_address_a_request_counts_under(peer, header, client):
    assert TrustedProxies("10.0.0.0/8").client(peer, header) == client


def test_nothing_is_trusted_by_default():
    assert TrustedProxies(None).client("127.0.0.1", "192.0.2.1") == "127.0.0.1"


def test_an_entry_that_is_not_an_address_is_refused_at_start():
    with pytest.raises(ConfigError) as error:
        parse({"RELAY_TRUSTED_PROXIES": "10.0.0.0/8, lb.example"})
    assert str(error.value) == "RELAY_TRUSTED_PROXIES: 'lb.example' is not an IP address or CIDR"
    assert parse({"RELAY_TRUSTED_PROXIES": "10.0.0.1, fd00::/8"}).trusted_proxies == \
        "10.0.0.1, fd00::/8"



def test_per_client_counts_stay_bounded_over_many_forwarded_clients(behind_proxy):
    # The keys now come from a header: the count of each is dropped with its last stream.
    live, _ = behind_proxy
    slots = live.relay.slots
    for round_ in range(3):
        opened = [stream(live.port, PROXY, f"198.51.{round_}.{i}") for i in range(15)]
        assert [code for code, _ in opened] == [200] * 15
        assert len(slots._clients) == 15
        for _, sock in opened:
            sock.close()
        for _ in range(1000):             # until the hang-up watch has freed every slot
            if not slots._clients:
                break
            time.sleep(0.01)
        assert (slots._clients, slots.snapshot()["sse"]) == ({}, 0)
