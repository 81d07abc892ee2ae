"""The relay's running parts, shared by the app, the server and its threads."""
import threading

from . import db, dialects
from .clock import system_clock
from .settings import Settings
from .agent_cache import AgentCache
from .empty_polls import EmptyPolls
from .automations import Automations
from .broadcaster import Broadcaster
from .callbacks import Callbacks
from .committer import Committer
from .ratelimit import RateLimiter
from .lifecycle import Lifecycle
from .outbound import OutboundPolicy
from .reaper import Reaper
from .slots import Slots
from .stream_receipts import StreamReceipts
from .watch import HangupWatch
from .event_tail import EventTail
from .leader import Leader, SoleProcess


class Relay:
    def __init__(self, settings: Settings, clock=system_clock):
        self.settings = settings
        self.clock = clock
        self.started_at = clock()
        self.connections = db.ConnectionPool(settings.db, settings.synchronous,
                                             size=settings.threads + 8, pg_size=settings.pg_pool)
        self.broadcaster = Broadcaster(settings.subscriber_queue, settings.stream_queue_bytes,
                                       clock)
        self.hangups = HangupWatch(clock)
        self.shared = dialects.is_postgres(settings.db)     # other processes may share the database
        # With other processes writing too, a per-process cache could answer what
        # the database would not: every lookup reads the database (agent_cache.py).
        self.agent_cache = AgentCache(enabled=not self.shared)
        self.empty_polls = EmptyPolls(enabled=not self.shared)     # the same reason
        self.outbound = OutboundPolicy(settings.outbound_allow)
        self.callbacks = Callbacks(self, retry_for=settings.callback_retry_for,
                                   policy=self.outbound)
        self.automations = Automations(self)
        self.slots = Slots(settings.stream_limit, settings.streams_per_client)
        self.reaper = Reaper(self, settings.reap_interval)
        self.lifecycle = Lifecycle(self, settings.lifecycle_tick)
        # Event automations run in the process that committed the event (once);
        # interval ones are claimed by a conditional UPDATE (once across processes).
        listeners = [self.callbacks.committed, self.automations.committed,
                     self.lifecycle.committed]
        self.event_tail = None
        if self.shared:
            # Streams hear every process's commits from the log, in id order (event_tail.py);
            # the periodic work runs in the one process holding the lead (leader.py); every
            # process sends callbacks, each delivery taken by one claim (callbacks.py).
            self.event_tail = EventTail(settings.db, [self.broadcaster.submit,
                                                      self.callbacks.committed,
                                                      self.lifecycle.committed],
                                        settings.pg_notify, clock)
            listeners.append(self.event_tail.committed)
            self.leader = Leader(settings.db)
            for worker in (self.reaper, self.lifecycle):
                worker.gate = self.leader.holds
        else:
            self.leader = SoleProcess()
            # Before the broadcaster: a long poll it wakes must not be told
            # from memory that nothing arrived.
            listeners[:0] = [self.agent_cache.committed, self.empty_polls.committed,
                             self.broadcaster.submit]
        self.committer = Committer(settings.db, settings.synchronous, clock, listeners)
        self.stream_receipts = StreamReceipts(self)
        self.broadcaster.receipts = self.stream_receipts
        self.closing = threading.Event()      # set at shutdown: streams end
        # Called at shutdown: what wakes a stream blocked elsewhere than on the broadcaster
        # (a proxied orchestrator stream waiting on its upstream).
        self.stream_closers: set = set()
        self.rate_limiter = RateLimiter(settings.integration_rate_limit)
        self._sync_integration_tokens()
        self.automations.reload()           # the enabled automations, before any event

    def _sync_integration_tokens(self) -> None:
        from .auth import parse_integration_tokens
        from .store import integrations
        tokens = parse_integration_tokens(self.settings.integration_tokens)
        now = self.clock()
        self.committer.commit(lambda c: (integrations.sync_env(c, tokens, now), []))

    def workers(self) -> dict:
        """Every background thread, by the name GET /api/health shows it under."""
        workers = {"broadcaster": self.broadcaster, "hangupWatch": self.hangups,
                   "reaper": self.reaper, "callbacks": self.callbacks,
                   "lifecycle": self.lifecycle, "automations": self.automations,
                   "streamReceipts": self.stream_receipts}
        if self.event_tail is not None:
            workers["eventTail"] = self.event_tail
        return workers

    def start(self) -> None:
        self.closing.clear()
        for worker in self.workers().values():
            worker.start()

    def close_streams(self) -> None:
        """Ends every open stream; publishing after this records but fans out nothing."""
        self.closing.set()
        self.broadcaster.stop()
        for close in list(self.stream_closers):
            close()

    def stop(self) -> None:
        for worker in reversed(self.workers().values()):
            worker.stop()
        self.committer.close()
        self.leader.close()
        self.connections.close()
