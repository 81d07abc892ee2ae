"""Providers: the programs an orchestrator can run as agents, and their command lines.

`claude` and `codex` are known by default (their executables on PATH); any provider
can be named or overridden with RELAY_PROVIDER_<NAME>=<command> (the name read in
lower case with `_` as `-`; an empty command removes the provider). A provider whose
executable is not found is listed as unavailable and not offered to the relay.

How a spawn's prompt and approval mode reach each provider (README "Keeping an agent
running"):

| provider | open | guarded | read-only | prompt |
|---|---|---|---|---|
| claude | `--permission-mode bypassPermissions` | `--permission-mode default` | `--permission-mode plan` | last argument, after `--` |
| codex | `--sandbox danger-full-access --ask-for-approval never` | `--sandbox workspace-write --ask-for-approval on-request` | `--sandbox read-only --ask-for-approval never` | last argument, after `--` |
| other | `RELAY_APPROVAL_MODE=open` | `RELAY_APPROVAL_MODE=guarded` | `RELAY_APPROVAL_MODE=read-only` | `RELAY_PROMPT` |

providerArgs follow the mode flags. For claude and codex the relay's provider config
adds `--model <model>` (and, for codex, `-c model_reasoning_effort=<effort>`), its
args after the mode flags and its env to the environment.
"""
import re
import shlex
import shutil
import subprocess
import threading

NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
MODES = ("open", "guarded", "read-only")
DEFAULTS = {"claude": "claude", "codex": "codex"}
CLAUDE_MODES = {"open": ["--permission-mode", "bypassPermissions"],
                "guarded": ["--permission-mode", "default"],
                "read-only": ["--permission-mode", "plan"]}
CODEX_MODES = {"open": ["--sandbox", "danger-full-access", "--ask-for-approval", "never"],
               "guarded": ["--sandbox", "workspace-write", "--ask-for-approval", "on-request"],
               "read-only": ["--sandbox", "read-only", "--ask-for-approval", "never"]}
VERSION_TIMEOUT = 5.0


class Provider:
    def __init__(self, name: str, command: str):
        self.name = name
        self.command = command
        self.argv = shlex.split(command)
        self._version = None
        self._lock = threading.Lock()

    @property
    def executable(self) -> str | None:
        return shutil.which(self.argv[0]) if self.argv else None

    @property
    def available(self) -> bool:
        return self.executable is not None

    def version(self) -> str | None:
        """The first line `<command> --version` prints (asked once), or None when it fails."""
        with self._lock:
            if self._version is None and self.available:
                try:
                    done = subprocess.run([*self.argv, "--version"], capture_output=True,
                                          text=True, timeout=VERSION_TIMEOUT,
                                          stdin=subprocess.DEVNULL)
                    lines = (done.stdout or done.stderr).strip().splitlines()
                    ok = done.returncode == 0 and lines
                    self._version = lines[0][:200] if ok else ""
                except (OSError, subprocess.TimeoutExpired):
                    self._version = ""
            return self._version or None

    def describe(self) -> dict:
        return {"name": self.name, "command": self.command, "available": self.available,
                "version": self.version()}

    def command_line(self, spawn: dict, config: dict | None = None) -> tuple[list, dict]:
        """(argv, env) for a spawn's provider, approvalMode, providerArgs and prompt, with the
        relay's provider config (claude and codex) applied."""
        mode = spawn.get("approvalMode") or spawn.get("permissionMode") or "guarded"
        if mode not in MODES:
            mode = "guarded"
        prompt = spawn.get("prompt")
        extra = [str(a) for a in spawn.get("providerArgs") or []]
        config = config or {}
        env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
        if self.name in ("claude", "codex"):
            flags = (CLAUDE_MODES if self.name == "claude" else CODEX_MODES)[mode]
            if config.get("model"):
                flags = flags + ["--model", str(config["model"])]
            if self.name == "codex" and config.get("effort"):
                flags = flags + ["-c", f"model_reasoning_effort={config['effort']}"]
            flags = flags + [str(a) for a in config.get("args") or []]
            return [*self.argv, *flags, *extra, *(["--", prompt] if prompt else [])], env
        env.update({"RELAY_APPROVAL_MODE": mode, "RELAY_PROMPT": prompt or ""})
        return [*self.argv, *extra], env


def configured(environ) -> dict[str, Provider]:
    """Every provider the settings name, by name, sorted: the defaults, then
    RELAY_PROVIDER_<NAME> (overriding or adding; empty removes)."""
    commands = dict(DEFAULTS)
    for key, value in environ.items():
        if key.startswith("RELAY_PROVIDER_") and len(key) > len("RELAY_PROVIDER_"):
            name = key[len("RELAY_PROVIDER_"):].lower().replace("_", "-")
            if not NAME.fullmatch(name):
                raise ValueError(f"{key} names no valid provider: {name!r} must be a lower-case "
                                 "letter, then lower-case letters, digits or -")
            commands[name] = value.strip()
    return {name: Provider(name, cmd) for name, cmd in sorted(commands.items()) if cmd.strip()}


def offered(providers: dict[str, Provider]) -> list[str]:
    return [name for name, provider in providers.items() if provider.available]
