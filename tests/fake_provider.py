"""A provider for the tests, run by `relay orchestrator` as RELAY_PROVIDER_FAKE: an agent
that answers every message through the client, so the whole loop runs without Claude
or Codex. It prints what it was started with, each line typed into it, and each answer.
"""
import os
import signal
import sys
import threading

from relay.client import Client, RelayError, Unreachable


def typed():
    for line in sys.stdin:                    # prompt.inject types here (tmux paste + Enter)
        print(f"typed: {line.rstrip()}", flush=True)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    me = os.environ["RELAY_AGENT_ID"]
    print(f"fake provider {me}: prompt={os.environ.get('RELAY_PROMPT')!r} "
          f"mode={os.environ.get('RELAY_APPROVAL_MODE')} args={sys.argv[1:]} "
          f"cwd={os.getcwd()} policy={os.environ.get('RELAY_POLICY_NAME')} "
          f"env={sorted((k, v) for k, v in os.environ.items() if k.startswith('FAKE_'))}",
          flush=True)
    threading.Thread(target=typed, daemon=True).start()
    client = Client()
    since = 0
    while True:
        try:
            for message in client.inbox(me, since=since, wait=5):
                since = message["id"]
                if message["from"] == me:
                    continue
                client.send(me, message["from"], f"echo: {message['body']}",
                            replyTo=message["id"])
                print(f"answered #{message['id']}: {message['body']}", flush=True)
        except (RelayError, Unreachable) as error:
            print(f"relay error: {error}", flush=True)
            threading.Event().wait(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
