"""A task callback receiver, as the README's "Closed-loop tasks" walkthrough runs it.

    python3 examples/callback_receiver.py URL SECRET

Listens on URL's host and port (say http://127.0.0.1:4899/relay-hook, the
task's callbackUrl), prints "listening on URL" once it does, then checks each
callback's X-Relay-Signature against SECRET, prints one line per callback
(delivery id, task id, status, whether the signature is right) and answers
204, or 401 when the signature is wrong.
Standard library only: copy it as the start of a real receiver.
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit


def signed_by_relay(raw_body: bytes, header: str, secret: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


def handler(secret: bytes):
    class Callback(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            good = signed_by_relay(raw, self.headers.get("X-Relay-Signature"), secret)
            task = json.loads(raw)["task"] if good else {}
            print(f"delivery {self.headers.get('X-Relay-Delivery')}: task {task.get('id')} "
                  f"{task.get('status')} ({'signed' if good else 'BAD SIGNATURE'})", flush=True)
            self.send_response(204 if good else 401)
            self.end_headers()

        def log_message(self, *args):
            pass            # one line per callback is printed above
    return Callback


def main(argv: list[str]) -> None:
    url, secret = urlsplit(argv[1]), argv[2].encode()
    server = HTTPServer((url.hostname, url.port), handler(secret))
    print(f"listening on {argv[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
