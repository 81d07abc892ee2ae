"""The relay's running parts, shared by the app, the server and its threads."""
import threading

from . import db
from .clock import system_clock
from .config import Settings
from .agent_cache import AgentCache
from .automations import Automations
from .broadcaster import Broadcaster
from .committer import Committer
from .lifecycle import Lifecycle
from .reaper import Reaper
from .slots import Slots


class Relay:
    def __init__(self, settings: Settings, clock=system_clock):
        self.settings = settings
        self.clock = clock
        self.started_at = clock()
        self.pool = db.Pool(settings.db, settings.synchronous, size=settings.threads + 8)
        self.broadcaster = Broadcaster(settings.subscriber_queue)
        self.agent_cache = AgentCache()
        self.automations = Automations(self)
        self.committer = Committer(settings.db, settings.synchronous, clock,
                                   [self.agent_cache.committed, self.broadcaster.submit,
                                    self.automations.committed])
        self.slots = Slots(settings.stream_limit)
        self.reaper = Reaper(self, settings.reap_interval)
        self.lifecycle = Lifecycle(self, settings.lifecycle_tick)
        self.closing = threading.Event()      # set at shutdown: streams end

    def start(self) -> None:
        self.closing.clear()
        self.broadcaster.start()
        self.reaper.start()
        self.lifecycle.start()
        self.automations.start()

    def close_streams(self) -> None:
        """Ends every open stream; publishing after this records but fans out nothing."""
        self.closing.set()
        self.broadcaster.stop()

    def stop(self) -> None:
        self.reaper.stop()
        self.lifecycle.stop()
        self.automations.stop()
        self.broadcaster.stop()
        self.committer.close()
        self.pool.close()
