"""agents, watch."""
import sys

from .. import output
from . import arg, verb


@verb("agents", "the agents, as a table",
      arg("--status"), arg("--tag"), arg("--cap", metavar="C"))
def agents(ctx, args):
    rows = ctx.client.agents(status=args.status, tag=args.tag, capability=args.cap)
    ctx.out(rows, output.table(rows, [
        ("ID", lambda a: a["id"]), ("STATUS", lambda a: a["status"]),
        ("LABEL", lambda a: a.get("label") or "-"), ("SEEN", lambda a: output.when(a.get("lastSeen"))),
        ("TAGS", lambda a: ",".join(a.get("tags") or []) or "-"),
        ("CAPABILITIES", lambda a: ",".join(a.get("capabilities") or []) or "-")]))


@verb("watch", "follow the relay's events, one line each (reconnects and resumes)",
      arg("--types", metavar="PREFIX,...", help="only these type prefixes, e.g. message.,task."),
      arg("--since", type=int, metavar="ID", help="replay the events after this id first"))
def watch(ctx, args):
    client = ctx.client
    client.health()             # unreachable at the start: exit 3 rather than wait

    def dropped(reason):
        where = f" from event {last[0]}" if last[0] is not None else ""
        print(f"relay: stream dropped ({reason}); reconnecting{where}", file=sys.stderr, flush=True)

    last = [args.since]
    types = [t for t in (args.types or "").split(",") if t] or None
    try:
        for event_id, event_type, envelope in client.events(types=types, since=args.since,
                                                            on_drop=dropped):
            if event_id is not None:
                last[0] = event_id
            ctx.out(envelope, output.event_line(event_id, event_type, envelope))
    except KeyboardInterrupt:
        return 0
