"""Web-search syntax, read by the relay (README "Searching messages").

`q` is words, `"a phrase"`, `or` between two terms, `-word` / `-"a phrase"`
to leave out, and `word*` for a prefix. Nothing the user types reaches a
search engine as syntax: every term becomes a quoted string of the engine
(store/search_sqlite.py), so `(`, `*`, `NEAR`, `AND`, column names and
unbalanced quotes are just text. Any input reads as a query; one with no
term left that can match (only punctuation, only `-word`s) matches nothing.
"""
from dataclasses import dataclass, field

MAX_TERMS = 32      # terms past this many are ignored: an engine query stays small


@dataclass(frozen=True)
class Term:
    text: str            # the words, as typed (the engine's tokenizer splits them)
    prefix: bool = False


@dataclass
class Parsed:
    groups: list[list[Term]] = field(default_factory=list)   # AND of groups, OR within one
    excluded: list[Term] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.groups)


def _chunks(q: str):
    """(text, quoted, negated) pieces: quoted phrases and whitespace-separated words.
    An unclosed quote runs to the end."""
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        negated = q[i] == "-" and i + 1 < n and not q[i + 1].isspace()
        if negated:
            i += 1
        if q[i] == '"':
            end = q.find('"', i + 1)
            end = n if end < 0 else end
            yield q[i + 1:end], True, negated
            i = end + 1
            continue
        end = i
        while end < n and not q[end].isspace() and q[end] != '"':
            end += 1
        yield q[i:end], False, negated
        i = end


def _searchable(text: str) -> bool:
    # The tokenizer keeps letters and digits only: a term without them matches nothing.
    return any(ch.isalnum() for ch in text)


def parse(q: str) -> Parsed:
    parsed = Parsed()
    join_next = False           # the last word was `or`: the next term joins the last group
    count = 0
    for text, quoted, negated in _chunks(q):
        if not quoted and not negated and text.lower() == "or":
            join_next = bool(parsed.groups)
            continue
        prefix = not quoted and text.endswith("*")
        text = text.rstrip("*") if prefix else text
        if not _searchable(text) or count >= MAX_TERMS:
            join_next = False
            continue
        count += 1
        term = Term(text, prefix)
        if negated:
            parsed.excluded.append(term)
        elif join_next:
            parsed.groups[-1].append(term)
        else:
            parsed.groups.append([term])
        join_next = False
    return parsed
