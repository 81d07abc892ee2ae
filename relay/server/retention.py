"""Retention in the reap cycle (README "Configuration", retention): every table that grows
with traffic forgets what is older than its setting, in bounded batches
(each its own short commit, at most `max_batches` per table per cycle, so
a backlog is worked off over a few cycles instead of in one long write),
then the database is analysed and its free pages given back."""
import logging

from .store import retention

log = logging.getLogger("relay.reaper")

BATCH = 500              # rows per delete (one short write transaction)
MAX_BATCHES = 20         # per table per reap cycle
VACUUM_PAGES = 2048      # free pages given back per reap cycle (8 MiB of 4 KiB pages)


class Retention:
    def __init__(self, relay, batch: int = BATCH, max_batches: int = MAX_BATCHES):
        self.relay = relay
        self.batch = batch
        self.max_batches = max_batches

    def rules(self, now: int) -> dict:
        """report key -> delete(conn) of one batch, for every retention that is on."""
        s, n = self.relay.settings, self.batch

        def before(seconds: float) -> int:
            return now - int(seconds * 1000)
        rules = {}
        if s.message_retention:
            cut = before(s.message_retention)
            rules["prunedMessages"] = lambda c: retention.messages(c, cut, now, n)
            rules["prunedChannelEvents"] = lambda c: retention.channel_events(c, cut, n)
        if s.activity_retention:
            cut_activity = before(s.activity_retention)
            rules["prunedActivity"] = lambda c: retention.activity(c, cut_activity, n)
            rules["prunedAutomationRuns"] = lambda c: retention.automation_runs(
                c, cut_activity, n)
        if s.task_retention:
            cut_tasks = before(s.task_retention)
            rules["prunedTasks"] = lambda c: retention.tasks(c, cut_tasks, n)
        if s.command_retention:
            cut_commands = before(s.command_retention)
            rules["prunedCommands"] = lambda c: retention.commands(c, cut_commands, n)
        if s.config_history:
            rules["prunedConfigHistory"] = lambda c: retention.config_history(
                c, s.config_history, n)
        return rules

    def run(self, now: int) -> dict:
        report = {}
        for key, delete in self.rules(now).items():
            report[key] = 0
            try:
                for _ in range(self.max_batches):
                    deleted = self.relay.committer.commit(lambda c: (delete(c), []))
                    report[key] += deleted
                    if deleted < self.batch:
                        break
            except Exception:
                log.exception("retention %s failed", key)
        conn = self.relay.connections.acquire()
        try:
            retention.maintain(conn, VACUUM_PAGES)
        except Exception:
            log.exception("database maintenance (optimize, incremental_vacuum) failed")
        finally:
            self.relay.connections.release(conn)
        return report
