"""register, send, inbox, read, claim, release, reply, thread, wait."""
import json
import os
import sys
import time
import uuid

from .. import mail, output
from ..context import UsageError, session
from ..state import State
from . import arg, verb

# The relay holds a long poll at most 60 s; the verbs ask for 50 at a time.
POLL = 50


def body_of(args):
    """BODY, or stdin when BODY is `-` or missing."""
    return sys.stdin.read() if args.body in (None, "-") else args.body


@verb("register", "register (or update) an agent; prints its id",
      arg("--id", help="the agent id (default: RELAY_AGENT_ID, else a new one)"),
      arg("--label"), arg("--tag", action="append", dest="tags", metavar="T"),
      arg("--cap", action="append", dest="caps", metavar="C"), arg("--kind"))
def register(ctx, args):
    agent_id = args.id or args.as_id or os.environ.get("RELAY_AGENT_ID") \
        or f"agent-{uuid.uuid4().hex[:8]}"
    agent = ctx.client.register(agent_id, label=args.label, tags=args.tags,
                                capabilities=args.caps, kind=args.kind)
    ctx.out(agent, agent["id"])


@verb("send", "send a message; prints #<id> <deliveryStatus>",
      arg("to", help="an address: an agent id, broadcast, label:, tag:, cap:, pool:, policy:"),
      arg("body", nargs="?", help="the text; - or none reads stdin"),
      arg("--subject"), arg("--claimable", action="store_true", default=None),
      arg("--reply-to", type=int, metavar="ID"), arg("--kind"),
      arg("--payload", metavar="JSON", help="a JSON object"),
      arg("--key", metavar="IDEMPOTENCY_KEY"), arg("--from", dest="sender", metavar="ID"),
      arg("--ack", action="store_true", default=None,
          help="each recipient owes an ack (relay ack); redelivered, then escalated, if late"),
      arg("--ack-within", type=int, metavar="S", help="the ack deadline (default 1800 s)"),
      arg("--max-deliveries", type=int, metavar="N"),
      arg("--escalate-to", metavar="ADDRESS", help="told when a recipient is overdue"))
def send(ctx, args):
    payload = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as error:
            raise UsageError(f"--payload is not JSON: {error}") from None
    message = ctx.client.send(args.sender or ctx.me, args.to, body_of(args), subject=args.subject,
                              claimable=args.claimable, replyTo=args.reply_to, kind=args.kind,
                              payload=payload, idempotencyKey=args.key, ackRequired=args.ack,
                              ackWithinSeconds=args.ack_within, maxDeliveries=args.max_deliveries,
                              escalateTo=args.escalate_to)
    ctx.out(message, f"#{message['id']} {message['deliveryStatus']}")


@verb("inbox", "messages for me newer than my cursor (then the cursor moves past them)",
      arg("--wait", type=float, metavar="S", help="long-poll up to S seconds (at most 60)"),
      arg("--since", type=int, metavar="ID", help="start after this id instead of the cursor"),
      arg("--limit", type=int, metavar="N"),
      arg("--peek", action="store_true", help="leave the cursor where it is"))
def inbox(ctx, args):
    if args.wait is not None and not 0 <= args.wait <= 60:
        raise UsageError("--wait must be between 0 and 60 seconds")
    state = State(ctx.client.url, ctx.me)
    if args.since is not None:
        messages = ctx.client.inbox(ctx.me, since=args.since, limit=args.limit, wait=args.wait)
    else:
        messages = mail.after_cursor(ctx.client, ctx.me, state, args.limit, args.wait)
    ctx.out(messages, [output.message_line(m) for m in messages])
    # Only once printed: a crash before this shows them again rather than losing them.
    if messages and not args.peek:
        state.advance(cursor=max(m["id"] for m in messages))


@verb("read", "mark messages read", arg("ids", nargs="+", type=int, metavar="ID"))
def read(ctx, args):
    instance, epoch = session()
    answer = ctx.client.read(ctx.me, args.ids, instance, epoch)
    ctx.out(answer, "read " + " ".join(f"#{i}" for i in args.ids))


@verb("claim", "claim a claimable message", arg("id", type=int),
      arg("--ttl", type=int, metavar="S", help="claim for S seconds"))
def claim(ctx, args):
    instance, epoch = session()
    message = ctx.client.claim(args.id, ctx.me, args.ttl, instance, epoch)
    ctx.out(message, f"claimed #{message['id']} until {output.when(message.get('claimExpiresAt'))}")


@verb("release", "give a claim back", arg("id", type=int))
def release(ctx, args):
    instance, epoch = session()
    message = ctx.client.release(args.id, ctx.me, instance, epoch)
    ctx.out(message, f"released #{args.id}")


@verb("reply", "reply to a message's sender, in its thread; prints #<id> <deliveryStatus>",
      arg("id", type=int), arg("body", nargs="?", help="the text; - or none reads stdin"),
      arg("--subject"))
def reply(ctx, args):
    original = ctx.client.message(args.id)
    message = ctx.client.send(ctx.me, original["from"], body_of(args), replyTo=args.id,
                              subject=args.subject)
    ctx.out(message, f"#{message['id']} {message['deliveryStatus']}")


@verb("thread", "the whole thread of a message, oldest first", arg("id", type=int))
def thread(ctx, args):
    messages = ctx.client.thread(args.id)
    ctx.out(messages, [output.message_line(m) for m in messages])


def wait_for_new(client, agent_id, state, timeout=None, stop=None):
    """Messages after the cursor, waiting up to `timeout` seconds (None: forever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
        if left <= 0:
            return []
        messages = mail.after_cursor(client, agent_id, state, wait=max(1, int(left)))
        if messages or (stop is not None and stop.is_set()):
            return messages


@verb("wait", "block until a message for me arrives; print it (cursor unchanged); "
      "exit 1 after --timeout", arg("--timeout", type=float, metavar="S"))
def wait(ctx, args):
    messages = wait_for_new(ctx.client, ctx.me, State(ctx.client.url, ctx.me), args.timeout)
    if not messages:
        return 1
    ctx.out(messages, [output.message_line(m) for m in messages])
