"""The private parts of waitress and simple-websocket the server builds on.

relay/server/serving.py subclasses waitress's WSGITask and HTTPChannel and
drives its loop; relay/server/ws_transport.py subclasses simple-websocket's
Server, replacing its handshake and reader thread. None of that is public
API, so setup.cfg pins both below their next minor version; this test names
whatever an upgrade took away, before a stream breaks at run time.
"""
import inspect
import socket

import pytest
import simple_websocket.ws as simple_ws
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server
from waitress.task import WSGITask

# What RelayTask overrides or reads (serving.py).
TASK_METHODS = ["get_environment", "write", "build_response_header", "finish", "service"]
TASK_ATTRIBUTES = ["channel", "environ", "wrote_header", "close_on_finish", "chunked_response"]
# What RelayChannel overrides or reads.
CHANNEL_METHODS = ["write_soon", "send"]
CHANNEL_ATTRIBUTES = ["outbuf_lock", "total_outbufs_len", "connected", "last_activity", "socket",
                      "server", "task_class"]
# What Server reads of waitress's server object.
SERVER_ATTRIBUTES = ["_map", "channel_class", "effective_port", "pull_trigger", "task_dispatcher"]
# What RelayWebSocket overrides, calls or reads of simple_websocket.ws.Base / Server.
WS_METHODS = ["_thread", "handshake", "_handle_events", "choose_subprotocol", "close"]
WS_ATTRIBUTES = ["sock", "ws", "connected", "event", "thread", "ping_interval", "receive_bytes",
                 "subprotocol", "close_reason", "close_message", "input_buffer"]


def missing(obj, names) -> list[str]:
    return [name for name in names if not hasattr(obj, name)]


@pytest.fixture
def waitress_server():
    server = create_server(lambda environ, start: [], host="127.0.0.1", port=0, threads=1)
    yield server
    server.task_dispatcher.shutdown(timeout=1)
    wasyncore.close_all(server._map)


def test_waitress_internals(waitress_server):
    assert missing(waitress_server, SERVER_ATTRIBUTES) == []
    assert callable(wasyncore.loop) and callable(wasyncore.close_all)
    assert issubclass(ClientDisconnected, Exception)
    ours, theirs = socket.socketpair()
    try:
        channel = HTTPChannel(waitress_server, ours, ("127.0.0.1", 1), Adjustments(), map={})
        assert missing(channel, CHANNEL_METHODS + CHANNEL_ATTRIBUTES) == []
        task = WSGITask(channel, HTTPRequestParser(Adjustments()))
        assert missing(task, TASK_METHODS + TASK_ATTRIBUTES) == []
    finally:
        ours.close()
        theirs.close()


def test_simple_websocket_internals():
    assert missing(simple_ws.Server, WS_METHODS) == []
    # Base.__init__ sets these and runs the handshake, then starts the reader
    # thread on self._thread (which RelayWebSocket replaces).
    source = inspect.getsource(simple_ws.Base.__init__)
    assert [name for name in WS_ATTRIBUTES if f"self.{name} =" not in source] == []
    assert "self.handshake()" in source and "target=self._thread" in source
    assert "werkzeug.socket" in inspect.getsource(simple_ws.Server.__init__)
