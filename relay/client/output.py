"""Human output: one line per item, aligned; times local and short."""
import json
import time


def when(ms):
    if not ms:
        return "-"
    seconds = ms / 1000
    today = time.strftime("%Y-%m-%d") == time.strftime("%Y-%m-%d", time.localtime(seconds))
    return time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M", time.localtime(seconds))


def first_line(text, width=80):
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


def message_line(m):
    marks = []
    if m.get("claimable"):
        marks.append(f"[claimed by {m['claimedBy']}]" if m.get("claimedBy") else "[claimable]")
    if m.get("replyTo"):
        marks.append(f"[re #{m['replyTo']}]")
    if m.get("deliveryStatus") and m["deliveryStatus"] != "delivered":
        marks.append(f"[{m['deliveryStatus']}]")
    if m.get("ackRequired"):
        marks.append(f"[ack by {when(m['ackBy'])}]")
    if m.get("redelivered"):
        marks.append("[redelivered]")
    text = f"{m['subject']}: {first_line(m.get('body'), 60)}" if m.get("subject") \
        else first_line(m.get("body"))
    return "  ".join(filter(None, [f"#{m['id']}", when(m.get("createdAt")),
                                   f"{m.get('from')} -> {m.get('to')}", " ".join(marks), text]))


def table(rows, columns):
    """Aligned columns: `columns` is a list of (title, function of a row)."""
    cells = [[title for title, _ in columns]] + [[str(get(r)) for _, get in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def event_line(event_id, event_type, envelope):
    envelope = envelope if isinstance(envelope, dict) else {}
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    subject = envelope.get("subject") or "-"
    if event_type.startswith("message.") and "body" in data:
        summary = f"#{data.get('id')} {data.get('from')} -> {data.get('to')}: {first_line(data.get('body'), 60)}"
    elif event_type.startswith("agent.") and "status" in data:
        summary = f"{data.get('id')} {data.get('status')}"
    elif event_type.startswith("task.") and "title" in data:
        summary = f"#{data.get('id')} {data.get('status')} {first_line(data.get('title'), 60)}"
    elif "title" in data:
        summary = first_line(data.get("title"), 80)
    else:
        summary = first_line(json.dumps(data, ensure_ascii=False, sort_keys=True), 100)
    return f"{event_id} {event_type} {subject} {summary}"
