"""Cross-process event latency on several relays sharing one PostgreSQL
database (README: "Several relays on PostgreSQL"): a send on process A, one
at a time, timed until process B's SSE stream carries it."""
import http.client
import json
import time

from bench.common import percentile


def event_latency(a: int, b: int, count: int = 300) -> tuple[float, float]:
    """(p50 ms, p99 ms) from A's POST /api/messages to the event on B's stream."""
    stream = http.client.HTTPConnection("127.0.0.1", b, timeout=30)
    stream.request("GET", "/api/events?types=message.new")
    response = stream.getresponse()
    response.readline()
    sender = http.client.HTTPConnection("127.0.0.1", a, timeout=30)
    samples = []
    for i in range(count):
        began = time.perf_counter()
        sender.request("POST", "/api/messages", json.dumps(
            {"from": "lat", "to": "agent-1", "body": str(i)}), {"Content-Type": "application/json"})
        sender.getresponse().read()
        while True:
            line = response.readline()
            if line.startswith(b"data:") and json.loads(line[5:])["data"]["body"] == str(i):
                break
        samples.append((time.perf_counter() - began) * 1000)
    stream.close()
    sender.close()
    return percentile(samples, 0.5), percentile(samples, 0.99)
