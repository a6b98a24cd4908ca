"""Search: repositories, changes, issues and the default branch's code, from the top bar's box
and GitHub's /search/* API.

- `query`: what the user typed, split into words and GitHub's qualifiers (`repo:`, `is:pr`...);
- `engines`: the database's own full-text search behind one small interface, chosen by the
  dialect (SQLite's FTS5, PostgreSQL's tsvector with `websearch_to_tsquery`);
- `documents`: the repository, change and issue documents, kept in step with their rows;
- `code_index`: the default branch's text files, indexed after a push by a background job;
- `service`: the searches themselves, filtered by who may see what.
"""
