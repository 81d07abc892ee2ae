"""Running the real `relay` executable against a live relay (agent-side tests)."""
import os
import socket
import subprocess
import sys

RELAY = os.path.join(os.path.dirname(sys.executable), "relay")


def environment(live, tmp_path, **extra):
    """The environment of an agent-side process: the relay's URL, a private
    state directory, no inherited agent settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RELAY_", "AGENT_RELAY_"))}
    env.update(RELAY_URL=f"http://127.0.0.1:{live.port}" if live else "http://127.0.0.1:9",
               XDG_STATE_HOME=str(tmp_path / "state"), HOME=str(tmp_path / "home"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def relay(env, *args, input=None, timeout=60, cwd=None):
    return subprocess.run([RELAY, *map(str, args)], env=env, input=input, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
