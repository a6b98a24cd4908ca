"""A search as typed: free words and phrases, and GitHub's qualifiers (`repo:o/n`, `is:open`,
`author:alice`, `in:title`, `path:src`, `language:python`...).

Words are kept as the engines index them: runs of letters and digits, lower-cased, so
`url_for` is the phrase "url for" on both engines and nothing the user types can be read as
the engine's own query syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from forge.errors import Invalid

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A qualifier, a quoted phrase, or a run of other characters; a leading '-' negates.
PIECE = re.compile(r'(-?)(?:([A-Za-z_]+):("[^"]*"|\S+)|"([^"]*)"?|(\S+))')
MAX_TERMS = 20


@dataclass(frozen=True)
class Term:
    """Words that must appear together, in this order; `negated`: must not appear."""

    words: tuple[str, ...]
    negated: bool = False


@dataclass
class SearchQuery:
    text: str
    terms: list[Term] = field(default_factory=list)
    qualifiers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def positive(self) -> list[Term]:
        return [term for term in self.terms if not term.negated]

    def values(self, name: str) -> list[str]:
        return self.qualifiers.get(name, [])

    def words(self) -> list[str]:
        """Every word sought, for highlighting."""
        return [word for term in self.positive for word in term.words]


def parse(text: str, known: frozenset[str] | set[str]) -> SearchQuery:
    """Split `text`; qualifiers outside `known` are taken as words, as GitHub does."""
    query = SearchQuery(text=text.strip())
    for match in PIECE.finditer(text or ""):
        negated, name, value, phrase, plain = match.groups()
        # PyGithub passes its keyword arguments as qualifiers, and Python's keywords come
        # with an underscore: search_issues("x", is_="pr", in_="title").
        qualifier = name.lower().rstrip("_") if name is not None else None
        if qualifier in known:
            value = value.strip('"')
            if value:
                query.qualifiers.setdefault(qualifier, []).append(value)
            continue
        if name is not None:
            plain = f"{name}:{value}"
        words = tuple(
            word.lower() for word in WORD.findall(phrase if phrase is not None else plain)
        )
        if words:
            query.terms.append(Term(words=words, negated=bool(negated)))
    if len(query.terms) > MAX_TERMS:
        raise Invalid(f"a search may have at most {MAX_TERMS} words or phrases", field="q")
    return query
