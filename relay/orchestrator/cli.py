"""`relay orchestrator`: its settings (flags override the environment) and its start.

| flag | variable | default |
|---|---|---|
| `--url` | `RELAY_URL` | `http://127.0.0.1:4850` |
| `--token` | `AGENT_RELAY_TOKEN` | unset |
| `--id` | `RELAY_ORCHESTRATOR_ID` | the host name |
| `--base-dir` | `RELAY_BASE_DIR` | required |
| `--listen` | `RELAY_ORCHESTRATOR_LISTEN` | `127.0.0.1:4851` (port 0: any free port) |
| `--api-url` | `RELAY_ORCHESTRATOR_API_URL` | `http://<listen>` (what the relay calls) |
| `--session-prefix` | `RELAY_SESSION_PREFIX` | `relay-` |
| `--tmux-socket` | `RELAY_TMUX_SOCKET` | tmux's default server (`-L <name>` otherwise) |
| `--heartbeat` | `RELAY_ORCHESTRATOR_HEARTBEAT` | 15 s |
| `--sweep` | `RELAY_ORCHESTRATOR_SWEEP` | 10 s (the pending-command list) |
| `--watch` | `RELAY_ORCHESTRATOR_WATCH` | 2 s (the tmux sessions) |
| `--grace` | `RELAY_ORCHESTRATOR_GRACE` | 10 s (SIGTERM before kill-session) |
| providers | `RELAY_PROVIDER_<NAME>=<command>` | `claude`, `codex` |
"""
import argparse
import logging
import os
import re
import socket
import sys
from dataclasses import dataclass, field

from .state import state_dir
from .tmux import SAFE_NAME

ID = re.compile(r"^[A-Za-z0-9._:@+-]{1,240}$")


@dataclass
class Settings:
    url: str | None
    token: str | None
    id: str
    base_dir: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 4851
    api_url: str | None = None
    prefix: str = "relay-"
    tmux_socket: str | None = None
    heartbeat: float = 15.0
    sweep: float = 10.0
    watch: float = 2.0
    grace: float = 10.0
    state_dir: str = ""
    environ: dict = field(default_factory=dict)


class UsageError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relay orchestrator", description=(
        "Run agents for the relay in tmux: carry out its commands, report what runs, and "
        "answer its proxies. SIGTERM stops the daemon and leaves the agents running."))
    for flag, variable, meaning in [
            ("--url", "RELAY_URL", "the relay's URL"),
            ("--token", "AGENT_RELAY_TOKEN", "the relay's token"),
            ("--id", "RELAY_ORCHESTRATOR_ID", "this orchestrator's id (default: the host name)"),
            ("--base-dir", "RELAY_BASE_DIR", "every agent's cwd must resolve inside it"),
            ("--listen", "RELAY_ORCHESTRATOR_LISTEN", "HOST:PORT of its HTTP API (default "
                                                      "127.0.0.1:4851)"),
            ("--api-url", "RELAY_ORCHESTRATOR_API_URL", "the API's URL as the relay reaches it"),
            ("--session-prefix", "RELAY_SESSION_PREFIX", "tmux session prefix (default relay-)"),
            ("--tmux-socket", "RELAY_TMUX_SOCKET", "tmux server socket name (tmux -L)"),
            ("--heartbeat", "RELAY_ORCHESTRATOR_HEARTBEAT", "seconds between heartbeats (15)"),
            ("--sweep", "RELAY_ORCHESTRATOR_SWEEP", "seconds between pending-command sweeps (10)"),
            ("--watch", "RELAY_ORCHESTRATOR_WATCH", "seconds between session checks (2)"),
            ("--grace", "RELAY_ORCHESTRATOR_GRACE", "seconds from SIGTERM to kill-session (10)")]:
        p.add_argument(flag, dest=variable, metavar="VALUE", help=f"{meaning} (env {variable})")
    return p


def _seconds(value, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 < seconds <= 86400:
        raise UsageError(f"{name} must be a number of seconds between 0 and 86400")
    return seconds


def settings(argv: list[str], environ) -> Settings:
    args = parser().parse_args(argv)
    env = {**environ, **{k: v for k, v in vars(args).items() if v is not None}}
    base = env.get("RELAY_BASE_DIR")
    if not base:
        raise UsageError("--base-dir (or RELAY_BASE_DIR) is required: every agent's cwd must "
                         "resolve inside it")
    base = os.path.realpath(os.path.expanduser(base))
    if not os.path.isdir(base):
        raise UsageError(f"base dir {base} is not a directory")
    ident = env.get("RELAY_ORCHESTRATOR_ID") or re.sub(r"[^A-Za-z0-9._:@+-]", "-",
                                                        socket.gethostname())[:240]
    if not ID.fullmatch(ident):
        raise UsageError("--id must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -")
    host, _, port = (env.get("RELAY_ORCHESTRATOR_LISTEN") or "127.0.0.1:4851").rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError("--listen must be HOST:PORT")
    prefix = env.get("RELAY_SESSION_PREFIX") or "relay-"
    if not SAFE_NAME.fullmatch(prefix) or len(prefix) > 40:
        raise UsageError("--session-prefix must be at most 40 characters of A-Z a-z 0-9 _ -")
    return Settings(
        url=env.get("RELAY_URL"), token=env.get("AGENT_RELAY_TOKEN") or None, id=ident,
        base_dir=base, listen_host=host.strip("[]"), listen_port=int(port),
        api_url=env.get("RELAY_ORCHESTRATOR_API_URL") or None, prefix=prefix,
        tmux_socket=env.get("RELAY_TMUX_SOCKET") or None,
        heartbeat=_seconds(env.get("RELAY_ORCHESTRATOR_HEARTBEAT"), "--heartbeat", 15.0),
        sweep=_seconds(env.get("RELAY_ORCHESTRATOR_SWEEP"), "--sweep", 10.0),
        watch=_seconds(env.get("RELAY_ORCHESTRATOR_WATCH"), "--watch", 2.0),
        grace=_seconds(env.get("RELAY_ORCHESTRATOR_GRACE"), "--grace", 10.0),
        state_dir=state_dir(environ), environ=dict(environ))


def main(argv=None) -> int:
    logging.basicConfig(level=os.environ.get("RELAY_LOG_LEVEL", "INFO").upper(),
                        format="relay orchestrator: %(levelname)s %(message)s", stream=sys.stderr)
    try:
        chosen = settings(sys.argv[1:] if argv is None else argv, os.environ)
        from .daemon import Daemon
        from .providers import configured
        configured(chosen.environ)
        daemon = Daemon(chosen)
    except (UsageError, ValueError) as error:
        print(f"relay orchestrator: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:   # the API address is taken, the state unreadable
        print(f"relay orchestrator: cannot start: {error}", file=sys.stderr)
        return 1
    if not daemon.tmux.available():
        print("relay orchestrator: tmux is not installed (apt-get install tmux)",
              file=sys.stderr)
        return 1
    return daemon.run()
