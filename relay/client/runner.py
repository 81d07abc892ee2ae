"""`relay run -- COMMAND`: makes a process an agent for as long as it lives.

The child keeps the terminal and the foreground process group (an
interactive provider works unchanged; Ctrl-C reaches it from the terminal,
so the runner ignores SIGINT rather than sending it twice); SIGTERM and
SIGHUP sent to the runner are forwarded. A relay that is down never stops
the child: presence retries in the background and catches up.
"""
import os
import signal
import subprocess
import sys

from .presence import Presence

# meta keys linking a spawned agent to its spawn policy and orchestrator.
LINKS = {"RELAY_POLICY_NAME": "policyName", "RELAY_SPAWN_REQUEST_ID": "spawnRequestId",
         "RELAY_ORCHESTRATOR_ID": "orchestratorId", "RELAY_TMUX_SESSION": "tmuxSession"}


def say(text):
    print(f"relay run: {text}", file=sys.stderr, flush=True)


def run(client, agent_id, command, label=None, tags=None, capabilities=None) -> int:
    meta = {key: os.environ[var] for var, key in LINKS.items() if os.environ.get(var)}
    meta["pid"] = os.getpid()
    fields = {"label": label, "tags": tags, "capabilities": capabilities, "kind": "provider",
              "status": "online", "meta": meta}
    down = []

    def on_error(error):
        if not down:                       # say it once per outage, not every retry
            say(f"{error}; retrying")
        down.append(error)

    def on_recover():
        if down:
            say(f"in touch with {client.url} again")
        down.clear()

    def on_conflict(error):
        say(f"agent {agent_id} was taken by another process ({error.message}); "
            "heartbeats stopped")

    presence = Presence(client, agent_id, fields, on_conflict=on_conflict, on_error=on_error,
                        on_recover=on_recover)
    registered = presence.try_register()
    env = dict(os.environ, RELAY_URL=client.url, RELAY_AGENT_ID=agent_id,
               RELAY_INSTANCE_ID=presence.instance_id)
    if client.token:
        env["AGENT_RELAY_TOKEN"] = client.token
    if registered and presence.epoch is not None:
        env["RELAY_EPOCH"] = str(presence.epoch)
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as error:
        presence.stop(offline=registered)
        say(f"cannot start {command[0]}: {error.strerror or error}")
        return 127

    def forward(signum, frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    presence.start()
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    presence.stop(offline=True)
    return 128 - code if code < 0 else code
