"""Full-text search of messages: the PostgreSQL part (a generated tsvector
column with a GIN index), the counterpart of store/search_sqlite.py (FTS5).
The search route picks one by `conn.dialect.search_store()`; migration 7
makes SCHEMA here on PostgreSQL, the FTS5 table on SQLite.

The same words match on both engines: the 'simple' configuration (no
stemming, no stop words: a word is a whole word) over unaccented text
("cafe" finds "café", and the other way round); every term of the parsed
query becomes a tsquery built by PostgreSQL's own functions from a
parameter, so nothing typed is syntax. Rank: ts_rank with the subject
weighted above the body; the snippet is cut here, in FTS5's form (a phrase
marked as one, an ellipsis where the text goes on).
"""
import re
import unicodedata

from ..search_query import Parsed, Term
from . import where
from .messages import readable, to_dict

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE OR REPLACE FUNCTION relay_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT unaccent('unaccent'::regdictionary, $1) $$;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', relay_unaccent(coalesce(subject, ''))), 'A')
    || setweight(to_tsvector('simple', relay_unaccent(body)), 'B')) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
"""
# A generated column indexes the rows already stored when it is added.
INDEX_EXISTING = ""
SNIPPET_WORDS = 16
RANK_WINDOW = 10_000


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _term(term: Term, args: list) -> str:
    """One term as a tsquery expression over one parameter."""
    if not term.prefix:
        args.append(term.text)
        return "phraseto_tsquery('simple', relay_unaccent(?))"
    words = re.findall(r"\w+", _plain(term.text).lower())
    args.append(" <-> ".join(f"'{w}'" for w in words) + ":*")
    return "to_tsquery('simple', ?)"


def tsquery(parsed: Parsed, args: list) -> str:
    groups = ["(" + " || ".join(_term(t, args) for t in group) + ")" for group in parsed.groups]
    expression = " && ".join(groups)
    if parsed.excluded:
        expression = f"({expression}) && !!({' || '.join(_term(t, args) for t in parsed.excluded)})"
    return expression


def search(conn, parsed: Parsed, *, agent: dict | None, addrs: list[str], now: int, sender=None, to=None, kind=None,
           channel=None, thread=None, since=None, before=None, limit: int = 20) -> list[dict]:
    if not parsed:
        return []
    query_args: list = []
    query = tsquery(parsed, query_args)
    clause, args = where(("m.id > ?", since), ("m.id < ?", before),
                         ("(m.id = ? OR m.thread_id = ?)", thread, thread),
                         ("m.from_agent = ?", sender), ("m.to_addr = ?", to),
                         ("m.kind = ?", kind), ("m.channel = ?", channel))
    clause = clause.replace(" WHERE ", " AND ", 1)
    args = list(args)
    if agent is not None:
        scope, scope_args = readable(addrs, agent["id"], now)
        clause += " AND " + scope
        args += scope_args
    # The newest RANK_WINDOW matches are ranked (as on SQLite: a word in most
    # messages must not rank them all); the GIN index finds the matches.
    rows = conn.execute(
        f"""WITH q AS MATERIALIZED (SELECT {query} AS q),
                 hits AS (
                   SELECT m.*, ts_rank('{{0.1, 0.2, 0.5, 1.0}}', m.search, q.q) AS search_rank
                     FROM messages AS m, q WHERE m.search @@ q.q{clause}
                    ORDER BY m.id DESC LIMIT {RANK_WINDOW})
            SELECT hits.* FROM hits, q ORDER BY search_rank DESC, id DESC LIMIT ?""",
        (*query_args, *args, limit)).fetchall()
    terms = [(_words(t.text), t.prefix) for group in parsed.groups for t in group]
    return [{**to_dict(r), "rank": float(r["search_rank"]),
             "snippet": snippet(terms, _column(terms, r["subject"], r["body"]))}
            for r in rows]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", _plain(text).lower())


def _column(terms, subject: str | None, body: str) -> str:
    """The text the snippet comes from, as FTS5 picks its column: the one matching
    the most distinct terms, the subject on a tie."""
    if not subject:
        return body
    found = [len({t for _, _, t in _marks(terms, _spans(text))}) for text in (subject, body)]
    return subject if found[0] >= found[1] else body


def _spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), _plain(m.group()).lower()) for m in re.finditer(r"\w+", text)]


def _marks(terms, spans) -> list[tuple[int, int, int]]:
    """(first word, past the last word, which term) of each match in `spans`."""
    marks = []
    i = 0
    while i < len(spans):
        for n, (words, prefix) in enumerate(terms):
            seg = [w for _, _, w in spans[i:i + len(words)]]
            if words and len(seg) == len(words) and seg[:-1] == words[:-1] and (
                    seg[-1].startswith(words[-1]) if prefix else seg[-1] == words[-1]):
                marks.append((i, i + len(words), n))
                i += len(words) - 1
                break
        i += 1
    return marks


def snippet(terms: list[tuple[list[str], bool]], text: str) -> str:
    """SNIPPET_WORDS words of `text` around its first match, as FTS5 writes a
    snippet: each match (a phrase as one) in [ ], an ellipsis where the text goes on."""
    spans = _spans(text)
    marks = [(a, b) for a, b, _ in _marks(terms, spans)]
    first = marks[0][0] if marks else 0
    start = max(0, min(first - SNIPPET_WORDS // 4, len(spans) - SNIPPET_WORDS))
    end = min(len(spans), start + SNIPPET_WORDS)
    if not spans:
        return text
    out, at = [], spans[start][0]
    for a, b in marks:
        if a >= start and b <= end:
            out += [text[at:spans[a][0]], "[", text[spans[a][0]:spans[b - 1][1]], "]"]
            at = spans[b - 1][1]
    out.append(text[at:spans[end - 1][1]])
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(spans) else "")
