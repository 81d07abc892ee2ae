"""Every setting, read once from the environment."""
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
    # 96: the default streams (threads - 8 = 88) hold 50 SSE + 20 WebSocket subscribers.
    threads: int = 96
    max_streams: int | None = None          # None: threads - 8
    max_streams_per_client: int | None = None      # None: half of the streams; 0: no cap
    max_connections_per_client: int = 200
    # Seconds a request's headers and body may take to arrive (slowloris).
    read_timeout: float = 15
    # Seconds an idle keep-alive connection stays open.
    idle_timeout: float = 60
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
    allowed_origins: str | None = None
    allowed_hosts: str | None = None
    trusted_proxies: str | None = None
    # Retention, seconds (0 keeps forever); config history in versions per key.
    message_retention: float = 7776000
    activity_retention: float = 604800
    task_retention: float = 2592000
    command_retention: float = 604800
    config_history: int = 100
    # PostgreSQL only: connections per process, and LISTEN/NOTIFY (0: poll only).
    pg_pool: int = 16
    pg_notify: bool = True

    @property
    def stream_limit(self) -> int:
        if self.max_streams is not None:
            return self.max_streams
        return max(1, self.threads - 8)

    @property
    def streams_per_client(self) -> int:
        if self.max_streams_per_client is not None:
            return self.max_streams_per_client
        return max(1, self.stream_limit // 2)


# setting name -> (type, environment variables; the first one set wins)
ENV = {
    "db": (str, "RELAY_DB"),
    "host": (str, "RELAY_HOST", "HOST"),
    "port": (int, "RELAY_PORT", "PORT"),
    "token": (str, "AGENT_RELAY_TOKEN"),
    "allow_no_token": (bool, "RELAY_ALLOW_NO_TOKEN"),
    "threads": (int, "RELAY_THREADS"),
    "max_streams": (int, "RELAY_MAX_STREAMS"),
    "max_streams_per_client": (int, "RELAY_MAX_STREAMS_PER_CLIENT"),
    "max_connections_per_client": (int, "RELAY_MAX_CONNECTIONS_PER_CLIENT"),
    "read_timeout": (float, "RELAY_READ_TIMEOUT"),
    "idle_timeout": (float, "RELAY_IDLE_TIMEOUT"),
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
    "allowed_origins": (str, "RELAY_ALLOWED_ORIGINS"),
    "allowed_hosts": (str, "RELAY_ALLOWED_HOSTS"),
    "trusted_proxies": (str, "RELAY_TRUSTED_PROXIES"),
    "message_retention": (float, "RELAY_MESSAGE_RETENTION"),
    "activity_retention": (float, "RELAY_ACTIVITY_RETENTION"),
    "task_retention": (float, "RELAY_TASK_RETENTION"),
    "command_retention": (float, "RELAY_COMMAND_RETENTION"),
    "config_history": (int, "RELAY_CONFIG_HISTORY"),
    "pg_pool": (int, "RELAY_PG_POOL"),
    "pg_notify": (bool, "RELAY_PG_NOTIFY"),
}

# What each setting means, for `relay serve --help`.
MEANING = {
    "db": "SQLite file, created with its schema if missing, or a postgresql:// URL",
    "host": "address to listen on",
    "port": "port to listen on",
    "token": "shared token every /api route but health and spec asks for",
    "allow_no_token": "1: listen on a non-loopback address without a token",
    "threads": "waitress worker threads",
    "max_streams": "open SSE, WebSocket and long-poll streams (default: threads - 8; threads "
                   "- max streams must stay at least 8)",
    "max_streams_per_client": "streams one client address may hold (default: half of max "
                              "streams; 0: no cap)",
    "max_connections_per_client": "open connections one client address may hold; more are "
                                  "closed as they are accepted (0: no cap)",
    "read_timeout": "seconds a request's headers and body may take to arrive before the "
                    "connection is closed",
    "idle_timeout": "seconds an idle keep-alive connection stays open",
    "max_body_bytes": "request body limit in bytes",
    "stale_after": "seconds without a heartbeat before an agent is stale",
    "offline_after": "seconds without a heartbeat before an agent is offline",
    "prune_after": "seconds before an offline agent is deleted",
    "reap_interval": "seconds between reap cycles",
    "lifecycle_tick": "seconds between lifecycle manager ticks",
    "event_retention": "events kept for resume",
    "keepalive": "seconds between SSE keepalive comments and WebSocket pings",
    "write_timeout": "seconds a stream write may make no progress before the stream ends",
    "stream_queue_bytes": "bytes pending for one stream subscriber before it is sent "
                          "event: reset and disconnected",
    "integration_tokens": "integration tokens, name=token,...",
    "integration_rate_limit": "requests per integration token per minute (every route it "
                              "reaches), and integration events per minute with the relay token",
    "recipes_dir": "a folder of extra recipe files",
    "log_level": "DEBUG, INFO, WARNING or ERROR (DEBUG: one line per request)",
    "synchronous": "SQLite synchronous pragma, FULL or NORMAL",
    "callback_retry_for": "seconds a task callback is retried (1 s doubling, at most 5 min "
                          "apart) before it is failed",
    "outbound_allow": "CIDRs and host names callbacks and orchestrator proxies may reach "
                      "besides public addresses (loopback: only URLs set with the relay token)",
    "allowed_origins": "origins (scheme://host:port, comma separated) whose pages may call the "
                       "relay besides its own; any other Origin is 403",
    "allowed_hosts": "Host names the relay answers besides loopback names and its bound "
                     "address (a reverse proxy's name); any other Host is 421",
    "trusted_proxies": "addresses or CIDRs of load balancers (comma separated) whose "
                       "X-Forwarded-For names the client: a request from one counts under the "
                       "right-most address in it that is not a trusted proxy, for the per-client "
                       "stream cap; their connections are not capped per client. From any "
                       "other peer the header is ignored",
    "message_retention": "seconds messages are kept (queued or claimed ones until settled; "
                         "0: forever)",
    "activity_retention": "seconds activity entries and automation runs are kept (0: forever)",
    "task_retention": "seconds final tasks and their history are kept (0: forever)",
    "command_retention": "seconds final commands are kept (0: forever)",
    "config_history": "config versions kept per key (0: all)",
    "pg_pool": "PostgreSQL: connections per process (opened lazily from 2)",
    "pg_notify": "PostgreSQL: 0 polls the event log instead of LISTEN/NOTIFY (transaction poolers)",
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
    if s.pg_pool < 2:
        raise ConfigError("RELAY_PG_POOL must be at least 2")
    if s.threads < 2:
        raise ConfigError("RELAY_THREADS must be at least 2")
    if s.max_streams is not None and s.max_streams < 0:
        raise ConfigError("RELAY_MAX_STREAMS must not be negative")
    if s.max_streams is not None and s.threads - s.max_streams < 8:
        most = max(0, s.threads - 8)
        raise ConfigError(f"RELAY_MAX_STREAMS ({s.max_streams}) must leave at least 8 of the "
                          f"RELAY_THREADS ({s.threads}) for requests: at most {most}")
    for name in ("max_streams_per_client", "max_connections_per_client"):
        if (getattr(s, name) or 0) < 0:
            raise ConfigError(f"{ENV[name][1]} must not be negative")
    for name in ("reap_interval", "lifecycle_tick", "keepalive", "write_timeout",
                 "callback_retry_for", "read_timeout", "idle_timeout"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{ENV[name][1]} must be greater than 0")
    for name in ("message_retention", "activity_retention", "task_retention",
                 "command_retention", "config_history"):
        if getattr(s, name) < 0:
            raise ConfigError(f"{ENV[name][1]} must not be negative (0 keeps forever)")
    from .forwarded import TrustedProxies
    TrustedProxies(s.trusted_proxies)          # an entry that is not an address is refused here
    if s.stream_queue_bytes < 65536:
        raise ConfigError("RELAY_STREAM_QUEUE_BYTES must be at least 65536")
    if s.max_body_bytes < 1024:
        raise ConfigError("RELAY_MAX_BODY_BYTES must be at least 1024")
