"""Writing the `refs/changes/NN/N/P` refs that patch sets uploaded before forge kept them do
not have, so `git fetch origin refs/changes/NN/N/P` and `git review -d N,P` find every patch
set, old or new.

A new patch set gets its ref when it is recorded (`forge.review.changes`); this fills in the
rest. It only ever creates a missing ref, to the patch set's recorded head, so running it again
(each `forge gc`, the workers' periodic upkeep) writes nothing new. A patch set whose commit is
not in the repository (a fork's change whose early patch sets were never copied over) is left
without a ref rather than given one that names nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.git import refs as git_refs
from forge.git.refs import RefUpdate, StaleRef
from forge.models import Change, PatchSet, Repository
from forge.repos.branches import open_git
from forge.repos.repositories import disk_path


@dataclass
class Backfilled:
    repository: str  # OWNER/NAME
    ref: str
    sha: str


def backfill_patch_set_refs(session: Session, repos_dir: Path) -> list[Backfilled]:
    """Create every missing refs/changes/NN/N/P; returns what was written."""
    rows = session.execute(
        select(Change.repository_id, Change.number, PatchSet.number, PatchSet.head_sha).join(
            PatchSet, PatchSet.change_id == Change.id
        )
    ).all()
    wanted: dict[int, dict[str, str]] = defaultdict(dict)
    for repository_id, change_number, patch_set, sha in rows:
        ref = f"refs/changes/{change_number % 100:02d}/{change_number}/{patch_set}"
        wanted[repository_id][ref] = sha
    written: list[Backfilled] = []
    for repository_id, refs in sorted(wanted.items()):
        repository = session.get(Repository, repository_id)
        if repository is None or not disk_path(repos_dir, repository).is_dir():
            continue
        written += _backfill_repository(repos_dir, repository, refs)
    return written


def _backfill_repository(
    repos_dir: Path, repository: Repository, wanted: dict[str, str]
) -> list[Backfilled]:
    with open_git(repos_dir, repository) as git:
        present = dict(git_refs.list_refs(git, "refs/changes/"))
        missing = {ref: sha for ref, sha in wanted.items() if ref not in present}
        if not missing:
            return []
        written = []
        with git_refs.locked_refs(git):
            for ref, sha in sorted(missing.items()):
                if sha.encode() not in git.object_store:
                    continue
                try:
                    # One at a time: a ref a push wrote meanwhile is simply not missing.
                    git_refs.apply_updates(git, [RefUpdate(ref, git_refs.ZERO, sha)])
                except StaleRef:
                    continue
                written.append(Backfilled(repository.full_name, ref, sha))
        return written
