"""Shared pieces of the load scripts: servers as subprocesses, free ports, RSS."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

BARE_APP = """
import logging
from flask import Flask, jsonify
from waitress import serve
app = Flask(__name__)

@app.get("/")
def constant():
    return jsonify({{"ok": True, "service": "bare"}})

logging.getLogger("waitress.queue").setLevel(logging.ERROR)   # "Task queue depth" under load
serve(app, host="127.0.0.1", port={port}, threads={threads}, _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, path: str, proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not come up")


def start_bare(threads: int = 16):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_APP.format(port=port, threads=threads)])
    wait_until_up(port, "/", proc)
    return proc, port


def start_relay(db_path: str, source: str | None = None, command=None, **env):
    """The relay as a subprocess; `source`: a directory holding another
    version's `relay` package to run instead (an A/B comparison); `command`:
    the arguments after the interpreter (default `-m relay serve`)."""
    port = free_port()
    environment = {**os.environ, "RELAY_DB": db_path, "RELAY_PORT": str(port),
                   "RELAY_LOG_LEVEL": "WARNING", "RELAY_REAP_INTERVAL": "3600", **env}
    environment.pop("AGENT_RELAY_TOKEN", None)
    if source:
        environment["PYTHONPATH"] = os.path.abspath(source)
    proc = subprocess.Popen([python_for(source), *(command or ["-m", "relay", "serve"])],
                            env=environment,
                            stdout=subprocess.DEVNULL, cwd=source)
    try:
        # Under a tracer (bench/tracemem.py) imports alone take tens of seconds.
        wait_until_up(port, "/api/health", proc, timeout=30 if command is None else 180)
    except BaseException:
        stop(proc)
        raise
    return proc, port


def python_for(source: str | None) -> str:
    """The other checkout's own interpreter when it has one (its dependencies
    as it pinned them), else this one."""
    own = os.path.join(source, ".venv", "bin", "python") if source else ""
    return own if own and os.access(own, os.X_OK) else sys.executable


INIT_SCHEMA = """
import sys
try:
    from relay.server import db
except ImportError:          # a checkout from before relay/server/
    from relay import db
db.init(sys.argv[1])
"""


def init_schema(db_path: str, source: str | None = None) -> None:
    """An empty database with the schema of `source`'s relay (or this one's)."""
    environment = dict(os.environ)
    if source:
        environment["PYTHONPATH"] = os.path.abspath(source)
    subprocess.run([python_for(source), "-c", INIT_SCHEMA, db_path], env=environment,
                   cwd=source, check=True, stdout=subprocess.DEVNULL)


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
