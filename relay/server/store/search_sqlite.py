"""Full-text search of messages: the SQLite-only part (FTS5).

An external-content FTS5 table over messages' subject and body, kept by
triggers on every insert, update and delete (a message is indexed in the
transaction that stores it), and the search query. Everything else of
search (the query syntax, scoping, filters) is shared; PostgreSQL will do
the same with a generated tsvector column and a GIN index.
"""
from ..search_query import Parsed, Term
from . import where
from .messages import readable, to_dict

# unicode61 with remove_diacritics 2: "cafe" finds "café", and the other way round.
SCHEMA = """
CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, body, content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        VALUES ('delete', old.id, old.subject, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        VALUES ('delete', old.id, old.subject, old.body);
    INSERT INTO messages_fts (rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
"""
# The migration that adds the table indexes every message already stored.
INDEX_EXISTING = "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');"

# bm25 weights (subject, body): a word in the subject counts double.
BM25 = "bm25(messages_fts, 2.0, 1.0)"
SNIPPET_TOKENS = 16
RANK_WINDOW = 10_000     # matches ranked at most: the newest (search() says why)


def _string(term: Term) -> str:
    """One term as an FTS5 string: quoted, so nothing in it is syntax."""
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + " *" if term.prefix else quoted


def match_expression(parsed: Parsed) -> str:
    groups = ["(" + " OR ".join(map(_string, group)) + ")" for group in parsed.groups]
    expression = " AND ".join(groups)
    if parsed.excluded:
        expression = f"({expression}) NOT ({' OR '.join(map(_string, parsed.excluded))})"
    return expression


def search(conn, parsed: Parsed, *, agent: dict | None, addrs: list[str], now: int, sender=None, to=None,
           kind=None, channel=None, thread=None, since=None, before=None,
           limit: int = 20) -> list[dict]:
    """Best match first (ties: newest first); each the message with `rank`
    (higher is better: bm25 negated) and `snippet` (matched words in [ ])."""
    if not parsed:
        return []
    # Filters on the index alone (id ranges, a thread's ids), and those that need
    # each match's message row (a join costs more per match than ranking does).
    ranged, ranged_args = where(
        ("messages_fts.rowid > ?", since), ("messages_fts.rowid < ?", before),
        ("messages_fts.rowid IN (SELECT id FROM messages WHERE id = ? OR thread_id = ?)",
         thread, thread))
    joined, joined_args = where(("m.from_agent = ?", sender), ("m.to_addr = ?", to),
                                ("m.kind = ?", kind), ("m.channel = ?", channel))
    ranged, joined = ranged.replace(" WHERE ", " AND ", 1), joined.replace(" WHERE ", " AND ", 1)
    joined_args = list(joined_args)
    if agent is not None:
        # What the agent's inbox shows (claims by others hidden), and what it sent.
        scope, scope_args = readable(addrs, agent["id"], now)
        joined += " AND " + scope
        joined_args += scope_args
    expression = match_expression(parsed)
    # Ranking reads every candidate (about 2 us each): a word in most messages
    # would cost seconds at a million. Past RANK_WINDOW matches, the newest
    # RANK_WINDOW are ranked (FTS5 walks matches newest first cheaply, without
    # reading messages); `before` moves the window back. Should the filters that
    # read messages leave fewer than `limit` hits in the window, every match is
    # ranked: a narrow filter never hides what it would find.
    oldest = conn.execute(
        f"""SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?{ranged}
             ORDER BY rowid DESC LIMIT 1 OFFSET ?""",
        (expression, *ranged_args, RANK_WINDOW - 1)).fetchone()
    prefixed = any(t.prefix for group in parsed.groups for t in group)
    hits = _ranked(conn, expression, prefixed, ranged, ranged_args, joined, joined_args, limit,
                   oldest[0] if oldest else None)
    if oldest and joined and len(hits) < limit:
        hits = _ranked(conn, expression, prefixed, ranged, ranged_args, joined, joined_args,
                       limit, None)
    return [{**to_dict(r), "rank": r["search_rank"], "snippet": r["search_snippet"]} for r in hits]


def _ranked(conn, expression, prefixed, ranged, ranged_args, joined, joined_args, limit, oldest):
    source = "messages_fts" + (" JOIN messages AS m ON m.id = messages_fts.rowid" if joined else "")
    window, window_args = (" AND messages_fts.rowid >= ?", [oldest]) if oldest else ("", [])
    # Ranked first, then a snippet made for the hits only: snippet() costs far more
    # than bm25(), and in one SELECT it would be made for every match before the sort.
    # CROSS JOIN keeps the hits first: each is one seek into the index (rowid = and
    # MATCH), where the planner would otherwise walk every match again. A prefix
    # term is expanded to its words at each seek, so with one the matches between
    # the lowest and the highest hit are walked once instead.
    if prefixed:
        second = """FROM messages_fts CROSS JOIN top ON top.hit = messages_fts.rowid
                    CROSS JOIN messages AS m ON m.id = top.hit
              WHERE messages_fts MATCH ? AND messages_fts.rowid >= (SELECT min(hit) FROM top)
                AND messages_fts.rowid <= (SELECT max(hit) FROM top)"""
    else:
        second = """FROM top CROSS JOIN messages_fts ON messages_fts.rowid = top.hit
                    CROSS JOIN messages AS m ON m.id = top.hit
              WHERE messages_fts MATCH ?"""
    return conn.execute(
        f"""WITH top AS MATERIALIZED (
                SELECT messages_fts.rowid AS hit, {BM25} AS score FROM {source}
                 WHERE messages_fts MATCH ?{window}{ranged}{joined}
                 ORDER BY score, messages_fts.rowid DESC LIMIT ?)
            SELECT m.*, -top.score AS search_rank,
                   snippet(messages_fts, -1, '[', ']', '…', {SNIPPET_TOKENS}) AS search_snippet
              {second}
             ORDER BY top.score, m.id DESC""",
        (expression, *window_args, *ranged_args, *joined_args, limit, expression)).fetchall()
