"""The state file: what this orchestrator started, so that it adopts its sessions and can
restart them after its own restart, and the outcome of each command it ran, so that one
interrupted before its report is reported once and never run twice.

`$XDG_STATE_HOME/relay/orchestrator-<id>.json` (default `~/.local/state/relay/`),
written whole to a temporary file and renamed over the old one, readable by its
owner only. It holds no token.
"""
import json
import os
import re
import tempfile
import threading

DONE_KEPT = 500            # command outcomes remembered


def state_dir(environ) -> str:
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                         "state")
    return os.path.join(base, "relay")


def file_name(orchestrator_id: str) -> str:
    return "orchestrator-" + re.sub(r"[^A-Za-z0-9._-]", "_", orchestrator_id) + ".json"


class State:
    """{sessions: {name: record}, done: {commandId: {status, result, error}}}, saved on
    every change."""

    def __init__(self, directory: str, orchestrator_id: str):
        self.directory = directory
        self.path = os.path.join(directory, file_name(orchestrator_id))
        self.lock = threading.RLock()
        self.sessions: dict[str, dict] = {}
        self.done: dict[str, dict] = {}
        self.load()

    def load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            raise RuntimeError(f"state file {self.path} cannot be read: {error}") from None
        self.sessions = data.get("sessions") or {}
        self.done = data.get("done") or {}

    def save(self) -> None:
        with self.lock:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            data = json.dumps({"sessions": self.sessions, "done": self.done}, indent=1)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".state-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise

    def finished(self, command_id: str, outcome: dict) -> None:
        with self.lock:
            self.done[command_id] = outcome
            while len(self.done) > DONE_KEPT:
                self.done.pop(next(iter(self.done)))
            self.save()

    def spawn_file(self, session: str, spec: dict) -> str:
        """A spawn's details for launch.py, readable by the owner only; it deletes it."""
        folder = os.path.join(self.directory, "spawn")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        path = os.path.join(folder, session + ".json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        return path
