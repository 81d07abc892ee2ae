"""ack (with --progress and --nack) and search (README "Acknowledgements and receipts",
"Searching messages")."""
from .. import output
from ..context import UsageError, session
from . import arg, verb


def receipt_line(r):
    due = f", due {output.when(r['dueAt'])}" if r.get("dueAt") else ""
    return f"#{r['messageId']} {r['state']} for {r['agentId']} (delivery {r['deliveryCount']}{due})"


@verb("ack", "acknowledge a message that asks for it; --progress: still working (the deadline "
      "moves); --nack: not now (redelivered later)", arg("id", type=int),
      arg("--note", help="a note for the sender (with --nack: the reason)"),
      arg("--progress", action="store_true"), arg("--nack", action="store_true"),
      arg("--retry", type=int, metavar="S", help="with --nack: redeliver after S seconds"))
def ack(ctx, args):
    if args.progress and args.nack:
        raise UsageError("give at most one of --progress or --nack")
    if args.retry is not None and not args.nack:
        raise UsageError("--retry goes with --nack")
    instance, epoch = session()
    if args.nack:
        receipt = ctx.client.nack(args.id, ctx.me, args.note, args.retry, instance, epoch)
    elif args.progress:
        receipt = ctx.client.progress(args.id, ctx.me, instance, epoch)
    else:
        receipt = ctx.client.ack(args.id, ctx.me, args.note, instance, epoch)
    ctx.out(receipt, receipt_line(receipt))


@verb("search", "search messages I can read, best match first: words, \"a phrase\", or, "
      "-word, word*", arg("query", nargs="+", help="the words (joined by spaces)"),
      arg("--all", action="store_true", help="every message, not only mine"),
      arg("--from", dest="sender", metavar="ID"), arg("--to", metavar="ADDRESS"),
      arg("--kind"), arg("--thread", type=int, metavar="ID"), arg("--limit", type=int, metavar="N"))
def search(ctx, args):
    hits = ctx.client.search(" ".join(args.query), for_agent=None if args.all else ctx.me,
                             sender=args.sender, to=args.to, kind=args.kind, thread=args.thread,
                             limit=args.limit)
    ctx.out(hits, [line for h in hits for line in (output.message_line(h), "    " + h["snippet"])])
