"""task create, task list, task claim, task status."""
from .. import output
from . import arg, verb


def task_line(t):
    return f"task #{t['id']} {t['status']}"


@verb("task create", "open a task", arg("title"), arg("--body"),
      arg("--severity", choices=["info", "low", "medium", "high", "critical"]),
      arg("--target", metavar="ADDR"), arg("--callback", metavar="URL"))
def create(ctx, args):
    task = ctx.client.create_task(args.title, body=args.body, severity=args.severity,
                                  target=args.target, callbackUrl=args.callback, source=ctx.me)
    ctx.out(task, task_line(task))


@verb("task list", "tasks, newest first", arg("--status", help="a status or a comma list"))
def list_(ctx, args):
    rows = ctx.client.tasks(status=args.status)
    ctx.out(rows, output.table(rows, [
        ("ID", lambda t: t["id"]), ("STATUS", lambda t: t["status"]),
        ("SEVERITY", lambda t: t["severity"]), ("CLAIMED", lambda t: t.get("claimedBy") or "-"),
        ("UPDATED", lambda t: output.when(t.get("updatedAt"))),
        ("TITLE", lambda t: output.first_line(t.get("title"), 60))]))


@verb("task claim", "claim a task", arg("id", type=int),
      arg("--ttl", type=int, metavar="S"))
def claim(ctx, args):
    task = ctx.client.claim_task(args.id, ctx.me, args.ttl)
    ctx.out(task, f"claimed task #{task['id']}")


@verb("task status", "move a task to a status", arg("id", type=int),
      arg("status", choices=["open", "in_progress", "blocked", "resolved", "failed", "cancelled"]),
      arg("--note"))
def status(ctx, args):
    task = ctx.client.task_status(args.id, args.status, agent_id=ctx.me, note=args.note)
    ctx.out(task, task_line(task))
