"""Answers go straight to the socket when nothing is buffered before them
(server.RelayChannel); what the socket cannot take at once is buffered and
sent by waitress's main loop. Against a real server."""
import http.client
import json
import socket
import time


def test_an_answer_larger_than_the_socket_takes_arrives_whole(live):
    live.request("POST", "/api/agents", {"id": "bob"})
    body = "x" * 65_000
    for i in range(100):                           # a 6.5 MB poll: more than a socket takes
        status, _ = live.request("POST", "/api/messages",
                                 {"from": "alice", "to": "bob", "body": body, "subject": str(i)})
        assert status == 201
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    conn.sock = socket.socket()
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)    # a small window
    conn.sock.connect(("127.0.0.1", live.port))
    conn.request("GET", "/api/messages?for=bob")
    time.sleep(0.3)                # the client is slow: the socket fills, the rest waits
    response = conn.getresponse()
    inbox = json.loads(response.read())
    assert [m["subject"] for m in inbox] == [str(i) for i in range(100)]
    assert all(m["body"] == body for m in inbox)
    # The connection goes on: the next answer follows the buffered one, in order.
    for path in ("/api/messages?for=bob&limit=1", "/api/messages/cursor"):
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())
    conn.close()
