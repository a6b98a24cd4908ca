"""The database's own full-text search behind one small interface, chosen by the dialect.

An engine turns the words of a search into a subquery of `(id, rank)` over the matching
`search_documents` rows (a lower rank is a better match), which the searches join with their
own filters (kind, repository, visibility) and paginate. The embedded default uses SQLite's
FTS5 (`bm25`); PostgreSQL matches its generated `tsvector` column (GIN-indexed) against
`websearch_to_tsquery` (ranked by `ts_rank_cd`). Both index the same words (runs of letters
and digits, case folded) and weigh a document's title above its body.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Float, Integer, Select, func, literal_column, select, text
from sqlalchemy.orm import Session

from forge.models.search import SearchDocument
from forge.search.query import Term


class Engine(Protocol):
    def matching(self, terms: list[Term], title_only: bool = False) -> Select:
        """(id, rank) of the documents holding every positive term and no negated one."""


def _quoted(term: Term) -> str:
    # Words are letters and digits only (forge.search.query), so a double-quoted phrase
    # cannot carry any of the engine's own syntax.
    return '"' + " ".join(term.words) + '"'


class SqliteFts5:
    def matching(self, terms: list[Term], title_only: bool = False) -> Select:
        column = "title : " if title_only else ""
        expression = " AND ".join(column + _quoted(t) for t in terms if not t.negated)
        for term in terms:
            if term.negated:
                expression += " NOT " + column + _quoted(term)
        match = (
            text(
                "SELECT rowid AS id, bm25(search_fts, 10.0, 1.0) AS rank FROM search_fts "
                "WHERE search_fts MATCH :fts_query"
            )
            .bindparams(fts_query=expression)
            .columns(id=Integer, rank=Float)
            .subquery("matches")
        )
        return select(match.c.id, match.c.rank)


class PostgresTextSearch:
    def matching(self, terms: list[Term], title_only: bool = False) -> Select:
        typed = " ".join(("-" if t.negated else "") + _quoted(t) for t in terms)
        config = literal_column("'simple'::regconfig")
        tsquery = func.websearch_to_tsquery(config, typed)
        vector = literal_column("search_documents.search_vector")
        query = select(
            SearchDocument.id.label("id"),
            (-func.ts_rank_cd(vector, tsquery)).label("rank"),
        ).where(vector.op("@@")(tsquery))
        if title_only:
            # The title's own vector, computed for the rows the GIN index already found.
            words = func.regexp_replace(SearchDocument.title, "[^[:alnum:]]+", " ", "g")
            title_vector = func.to_tsvector(config, words)
            query = query.where(title_vector.op("@@")(tsquery))
        return query


def engine_for(session: Session) -> Engine:
    if session.get_bind().dialect.name == "postgresql":
        return PostgresTextSearch()
    return SqliteFts5()
