"""The relay's running parts, shared by the app, the server and its threads."""
import threading

from . import db
from .clock import system_clock
from .config import Settings
from .agent_cache import AgentCache
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


class Relay:
    def __init__(self, settings: Settings, clock=system_clock):
        self.settings = settings
        self.clock = clock
        self.started_at = clock()
        self.pool = db.Pool(settings.db, settings.synchronous, size=settings.threads + 8)
        self.broadcaster = Broadcaster(settings.subscriber_queue, settings.stream_queue_bytes)
        self.hangups = HangupWatch()
        self.agent_cache = AgentCache()
        self.outbound = OutboundPolicy(settings.outbound_allow)
        self.callbacks = Callbacks(self, retry_for=settings.callback_retry_for,
                                   policy=self.outbound)
        self.automations = Automations(self)
        self.committer = Committer(settings.db, settings.synchronous, clock,
                                   [self.agent_cache.committed, self.broadcaster.submit,
                                    self.callbacks.committed, self.automations.committed])
        self.slots = Slots(settings.stream_limit, settings.streams_per_client)
        self.reaper = Reaper(self, settings.reap_interval)
        self.lifecycle = Lifecycle(self, settings.lifecycle_tick)
        self.stream_receipts = StreamReceipts(self)
        self.broadcaster.on_carried = self.stream_receipts.note
        self.closing = threading.Event()      # set at shutdown: streams end
        # Called at shutdown: what wakes a stream blocked elsewhere than on the broadcaster
        # (a proxied orchestrator stream waiting on its upstream).
        self.stream_closers: set = set()
        self.rate_limiter = RateLimiter(settings.integration_rate_limit)
        self._sync_integration_tokens()

    def _sync_integration_tokens(self) -> None:
        from .auth import parse_integration_tokens
        from .store import integrations
        tokens = parse_integration_tokens(self.settings.integration_tokens)
        now = self.clock()
        self.committer.commit(lambda c: (integrations.sync_env(c, tokens, now), []))

    def start(self) -> None:
        self.closing.clear()
        self.broadcaster.start()
        self.hangups.start()
        self.reaper.start()
        self.callbacks.start()
        self.lifecycle.start()
        self.automations.start()
        self.stream_receipts.start()

    def close_streams(self) -> None:
        """Ends every open stream; publishing after this records but fans out nothing."""
        self.closing.set()
        self.broadcaster.stop()
        for close in list(self.stream_closers):
            close()

    def stop(self) -> None:
        self.reaper.stop()
        self.callbacks.stop()
        self.lifecycle.stop()
        self.automations.stop()
        self.stream_receipts.stop()
        self.broadcaster.stop()
        self.hangups.stop()
        self.committer.close()
        self.pool.close()
