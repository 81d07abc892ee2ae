"""Every setting, read once from the environment (API.md §13)."""
import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    db: str = "./relay.db"
    host: str = "127.0.0.1"
    port: int = 4850
    token: str | None = None
    allow_no_token: bool = False
    threads: int = 64
    max_streams: int | None = None          # None: threads - 8
    max_body_bytes: int = 1048576
    stale_after: float = 90
    offline_after: float = 300
    prune_after: float = 604800
    reap_interval: float = 15
    lifecycle_tick: float = 10
    event_retention: int = 100000
    event_retention_seconds: float = 7 * 86400
    keepalive: float = 15
    # A stream write that cannot progress this long ends the stream.
    write_timeout: float = 10
    # Pending bytes per stream subscriber before it is reset (besides the count below).
    stream_queue_bytes: int = 8388608
    integration_tokens: str | None = None
    integration_rate_limit: int = 60
    recipes_dir: str | None = None
    log_level: str = "INFO"
    synchronous: str = "FULL"
    # How many events a stream subscriber may fall behind before it is reset.
    subscriber_queue: int = 1000
    callback_retry_for: float = 86400
    outbound_allow: str | None = None

    @property
    def stream_limit(self) -> int:
        if self.max_streams is not None:
            return self.max_streams
        return max(1, self.threads - 8)


# setting name -> (type, environment variables; the first one set wins)
ENV = {
    "db": (str, "RELAY_DB"),
    "host": (str, "RELAY_HOST", "HOST"),
    "port": (int, "RELAY_PORT", "PORT"),
    "token": (str, "AGENT_RELAY_TOKEN"),
    "allow_no_token": (bool, "RELAY_ALLOW_NO_TOKEN"),
    "threads": (int, "RELAY_THREADS"),
    "max_streams": (int, "RELAY_MAX_STREAMS"),
    "max_body_bytes": (int, "RELAY_MAX_BODY_BYTES"),
    "stale_after": (float, "RELAY_STALE_AFTER"),
    "offline_after": (float, "RELAY_OFFLINE_AFTER"),
    "prune_after": (float, "RELAY_PRUNE_AFTER"),
    "reap_interval": (float, "RELAY_REAP_INTERVAL"),
    "lifecycle_tick": (float, "RELAY_LIFECYCLE_TICK"),
    "event_retention": (int, "RELAY_EVENT_RETENTION"),
    "keepalive": (float, "RELAY_KEEPALIVE"),
    "write_timeout": (float, "RELAY_WRITE_TIMEOUT"),
    "stream_queue_bytes": (int, "RELAY_STREAM_QUEUE_BYTES"),
    "integration_tokens": (str, "RELAY_INTEGRATION_TOKENS"),
    "integration_rate_limit": (int, "RELAY_INTEGRATION_RATE_LIMIT"),
    "recipes_dir": (str, "RELAY_RECIPES_DIR"),
    "log_level": (str, "RELAY_LOG_LEVEL"),
    "synchronous": (str, "RELAY_SYNCHRONOUS"),
    "callback_retry_for": (float, "RELAY_CALLBACK_RETRY_FOR"),
    "outbound_allow": (str, "RELAY_OUTBOUND_ALLOW"),
}

# What each setting means, for `relay serve --help` (API.md §13).
MEANING = {
    "db": "SQLite file, created with its schema if missing",
    "host": "address to listen on",
    "port": "port to listen on",
    "token": "shared token every /api route but health and spec asks for",
    "allow_no_token": "1: listen on a non-loopback address without a token",
    "threads": "waitress worker threads",
    "max_streams": "open SSE, WebSocket and long-poll streams (default: threads - 8)",
    "max_body_bytes": "request body limit in bytes",
    "stale_after": "seconds without a heartbeat before an agent is stale",
    "offline_after": "seconds without a heartbeat before an agent is offline",
    "prune_after": "seconds before an offline agent is deleted",
    "reap_interval": "seconds between reap cycles",
    "lifecycle_tick": "seconds between lifecycle manager ticks",
    "event_retention": "events kept for resume",
    "keepalive": "seconds between SSE keepalive comments and WebSocket pings",
    "integration_tokens": "integration tokens, name=token,...",
    "integration_rate_limit": "integration events per token per minute",
    "recipes_dir": "a folder of extra recipe files",
    "log_level": "DEBUG, INFO, WARNING or ERROR (DEBUG: one line per request)",
    "synchronous": "SQLite synchronous pragma, FULL or NORMAL",
    "callback_retry_for": "seconds a task callback is retried (1 s doubling, at most 5 min "
                          "apart) before it is failed",
    "outbound_allow": "CIDRs and host names callbacks and orchestrator proxies may reach "
                      "besides public addresses (loopback: only URLs set with the relay token)",
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(variable: str, raw: str, kind: type):
    if kind is bool:
        if raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(f"{variable} must be 1 or 0, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, got {raw!r}") from None


def parse(values: dict[str, str]) -> Settings:
    """Settings from a mapping of environment variables; empty values count as unset."""
    found = {}
    for name, (kind, *variables) in ENV.items():
        for variable in variables:
            raw = values.get(variable)
            if raw:
                found[name] = _convert(variable, raw, kind)
                break
    settings = Settings(**found)
    check(settings)
    return settings


def from_env() -> Settings:
    return parse(dict(os.environ))


def check(s: Settings) -> None:
    if s.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"RELAY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                          f"got {s.log_level!r}")
    if s.synchronous.upper() not in ("FULL", "NORMAL"):
        raise ConfigError("RELAY_SYNCHRONOUS must be FULL or NORMAL")
    if not 0 < s.port < 65536:
        raise ConfigError("RELAY_PORT must be between 1 and 65535")
    if s.threads < 2:
        raise ConfigError("RELAY_THREADS must be at least 2")
    if s.max_streams is not None and s.max_streams < 0:
        raise ConfigError("RELAY_MAX_STREAMS must not be negative")
    for name in ("reap_interval", "lifecycle_tick", "keepalive", "write_timeout",
                 "callback_retry_for"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{ENV[name][1]} must be greater than 0")
    if s.stream_queue_bytes < 65536:
        raise ConfigError("RELAY_STREAM_QUEUE_BYTES must be at least 65536")
    if s.max_body_bytes < 1024:
        raise ConfigError("RELAY_MAX_BODY_BYTES must be at least 1024")
