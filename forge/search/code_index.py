"""The code index: the text files of each repository's default branch, as search documents.

A push that moves the default branch records an outbox message in its own transaction
(hooks/actions.py `schedule_code_index`); once it commits, a background job
(`forge.jobs.index_code`) brings the index from the commit it shows to the branch's new head,
touching only the paths that changed between the two. A repository indexed for the first time,
or whose indexed commit is gone (a force push that dropped it), is indexed whole.

Bounded, and says so: binary files (a NUL byte in their first 8,000 bytes, git's own test) and
files over `max_file_bytes` are left out, and so are files past `max_files` in one repository;
each left-out file is remembered (kind `code-skipped`, the reason as its body), so the results
page can say how much of a repository the index lacks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forge.git import files as git_files
from forge.git.storage import open_repo
from forge.models import Repository
from forge.models.search import CODE, CodeIndexState, SearchDocument

log = logging.getLogger(__name__)

SKIPPED = "code-skipped"
LARGE, BINARY, OVER_CAP = "large", "binary", "cap"


@dataclass(frozen=True)
class CodeLimits:
    # GitHub's code search leaves out files over 384 KB too.
    max_file_bytes: int = 384 * 1024
    max_files: int = 20_000


# What `language:` matches, by file extension (GitHub's names, lower-cased).
LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust", ".c": "c",
    ".h": "c", ".cc": "c++", ".cpp": "c++", ".hpp": "c++", ".java": "java", ".rb": "ruby",
    ".php": "php", ".sh": "shell", ".bash": "shell", ".md": "markdown", ".rst": "rst",
    ".html": "html", ".htm": "html", ".css": "css", ".json": "json", ".yml": "yaml",
    ".yaml": "yaml", ".toml": "toml", ".sql": "sql", ".kt": "kotlin", ".swift": "swift",
    ".cs": "c#", ".txt": "text", ".cfg": "ini", ".ini": "ini", ".xml": "xml",
}  # fmt: skip


def language_of(path: str) -> str:
    return LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")


def _forget(session: Session, repository_id: int, paths: list[str] | None = None) -> None:
    query = delete(SearchDocument).where(
        SearchDocument.repository_id == repository_id, SearchDocument.kind.in_((CODE, SKIPPED))
    )
    if paths is not None:
        query = query.where(SearchDocument.key.in_(paths))
    session.execute(query)


def _count(session: Session, repository_id: int, kind: str, reason: str | None = None) -> int:
    query = select(func.count(SearchDocument.id)).where(
        SearchDocument.repository_id == repository_id, SearchDocument.kind == kind
    )
    if reason is not None:
        query = query.where(SearchDocument.body == reason)
    return session.scalar(query) or 0


def _add(session, repository_id: int, entry, data: bytes, limits: CodeLimits, room: int) -> int:
    """Index one file (or remember why not); returns the room left under the cap."""
    reason = None
    if len(data) > limits.max_file_bytes:
        reason = LARGE
    elif b"\0" in data[:8000]:
        reason = BINARY
    elif room <= 0:
        reason = OVER_CAP
    session.add(
        SearchDocument(
            kind=SKIPPED if reason else CODE,
            repository_id=repository_id,
            key=entry.path,
            title=entry.path,
            body=reason or data.decode("utf-8", "replace"),
            language=language_of(entry.path),
            blob_sha=entry.sha,
            size=len(data),
        )  # fmt: skip
    )
    return room if reason else room - 1


def index_code(
    session: Session, repo_path: Path, repository: Repository, limits: CodeLimits = CodeLimits()
) -> CodeIndexState:
    """Bring the repository's code index to its default branch's head; returns where it
    stands. Runs twice harmlessly (delivery is at least once): a second run finds nothing new."""
    state = session.get(CodeIndexState, repository.id, with_for_update=True)
    if state is None:
        state = CodeIndexState(repository_id=repository.id, commit_sha="", files=0,
                               skipped_large=0, skipped_binary=0, skipped_over_cap=0)  # fmt: skip
        session.add(state)
        session.flush()
    git = open_repo(repo_path)
    head = git_files.branch_head(git, repository.default_branch)
    if head == state.commit_sha and head is not None:
        return state
    if head is None:  # no default branch (yet, or any more): nothing to find
        _forget(session, repository.id)
    elif state.commit_sha and git_files.has_commit(git, state.commit_sha):
        written, gone = git_files.changed_files(git, state.commit_sha, head)
        _forget(session, repository.id, [entry.path for entry in written] + gone)
        session.flush()
        room = limits.max_files - _count(session, repository.id, CODE)
        for entry in written:
            room = _add(session, repository.id, entry, git_files.blob_bytes(git, entry.sha),
                        limits, room)  # fmt: skip
    else:
        _forget(session, repository.id)
        room = limits.max_files
        for entry in git_files.files_of(git, head):
            room = _add(session, repository.id, entry, git_files.blob_bytes(git, entry.sha),
                        limits, room)  # fmt: skip
    session.flush()
    state.commit_sha = head or ""
    state.files = _count(session, repository.id, CODE)
    state.skipped_large = _count(session, repository.id, SKIPPED, LARGE)
    state.skipped_binary = _count(session, repository.id, SKIPPED, BINARY)
    state.skipped_over_cap = _count(session, repository.id, SKIPPED, OVER_CAP)
    log.info("code index of %s at %s: %d files", repository.full_name, head, state.files)
    return state


def forget_state(session: Session, repository_id: int | None = None) -> None:
    """Make the next run index whole (`forge search reindex`)."""
    query = delete(CodeIndexState)
    if repository_id is not None:
        query = query.where(CodeIndexState.repository_id == repository_id)
    session.execute(query)
