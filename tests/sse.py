"""A small Server-Sent Events client for tests (http.client, chunked)."""
import http.client
import json
import socket
import time


class SSE:
    def __init__(self, port, path="/api/events", headers=None, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.sock = self.conn.sock       # getresponse() may hand it to the response
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def frame(self):
        """The next frame as a dict of its fields; comments come as {'comment': ...}."""
        fields = {}
        while True:
            line = self.response.readline()
            if not line:
                return None                      # the server ended the stream
            line = line.decode().rstrip("\n")
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            name, _, value = line.partition(": ")
            fields[name] = value

    def events(self, count, seconds=15):
        """The next `count` events (comments skipped), each parsed: (name, envelope)."""
        found = []
        deadline = time.monotonic() + seconds
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events arrived"
            f = self.frame()
            if f is None:
                break
            if "event" in f:
                found.append((f["event"], json.loads(f["data"])))
        return found

    def until(self, predicate, seconds=15):
        """Events up to and including the first for which predicate(name, envelope) holds."""
        found = []
        deadline = time.monotonic() + seconds
        while True:
            assert time.monotonic() < deadline, f"gave up after {len(found)} events"
            f = self.frame()
            if f is None:
                return found
            if "event" in f:
                found.append((f["event"], json.loads(f["data"])))
                if predicate(*found[-1]):
                    return found

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.response.close()
        self.sock.close()
        self.conn.close()
