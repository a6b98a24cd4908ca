"""Change requests: opening them (from a branch, a fork, or `git push HEAD:refs/for/main`),
new patch sets, closing and reopening, conversation comments and notifications.

A change's commits are kept in the target repository under refs/pull/N/head, whatever they
came from, so reviewers read and merge them without touching the source.
"""

from __future__ import annotations

from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can, require
from forge.accounts.users import find_user
from forge.db import after_rollback, utcnow
from forge.errors import Invalid, NotFound
from forge.git import merge as git_merge
from forge.git import refs as git_refs
from forge.git.fetch import copy_objects
from forge.git.refs import RefUpdate
from forge.git.storage import open_repo
from forge.models import (
    Change,
    ChangeComment,
    ChangeEvent,
    PatchSet,
    Repository,
    User,
)
from forge.repos.branches import open_git
from forge.review.inbox import notify, notify_mentions

MAX_TITLE = 256


# --- finding ------------------------------------------------------------------------------


def get_change(session: Session, repo: Repository, number: int) -> Change:
    change = session.scalar(
        select(Change).where(Change.repository_id == repo.id, Change.number == number)
    )
    if change is None:
        raise NotFound(f"change #{number} not found in {repo.full_name}")
    return change


def list_changes(
    session: Session,
    repo: Repository,
    state: str = "open",
    base: str | None = None,
    head_branch: str | None = None,
) -> list[Change]:
    query = select(Change).where(Change.repository_id == repo.id)
    if state in ("open", "closed", "merged"):
        query = query.where(Change.state == state)
    elif state == "closed_or_merged":
        query = query.where(Change.state.in_(("closed", "merged")))
    if base:
        query = query.where(Change.base_branch == base)
    if head_branch:
        query = query.where(Change.head_branch == head_branch)
    return list(session.scalars(query.order_by(Change.number.desc())))


# --- opening ------------------------------------------------------------------------------


def _branch_tip(git: Repo, branch: str, what: str) -> str:
    sha = git_refs.current_value(git, f"refs/heads/{branch}")
    if sha == git_refs.ZERO:
        raise Invalid(f"the {what} branch {branch!r} does not exist", field=what)
    return sha


def _merge_base(git: Repo, base_sha: str, head_sha: str) -> str:
    found = git_merge.merge_base(git, base_sha, head_sha)
    if found is None:
        raise Invalid("the branches have no history in common", field="head")
    return found


def _check_has_commits(base_sha: str, head_sha: str, merge_base: str, base: str, head: str):
    if head_sha in (base_sha, merge_base):
        raise Invalid(f"there are no commits between {base} and {head}", field="head")


def next_number(session: Session, repo: Repository) -> int:
    """The repository's next number for a change or an issue (forge.issues shares the
    sequence, as GitHub's pulls and issues do). One UPDATE hands it out, so concurrent
    openings never get the same one."""
    session.execute(
        update(Repository)
        .where(Repository.id == repo.id)
        .values(last_change_number=Repository.last_change_number + 1)
    )
    session.refresh(repo, ["last_change_number"])
    return repo.last_change_number


def _store_head(session: Session, git: Repo, change: Change, sha: str, patch_set: int) -> None:
    """Point refs/pull/N/head at the change's head and keep the patch set as Gerrit does, at
    refs/changes/NN/N/P, for `git fetch` and `git review -d` (internal refs: no push checks).
    A transaction that rolls back (a push refused after the change was written) takes them
    back, so no ref names a change that does not exist."""
    with git_refs.locked_refs(git):
        old = git_refs.current_value(git, change.head_ref)
        kept = change.patch_set_ref(patch_set)
        updates = [
            RefUpdate(change.head_ref, old, sha),
            RefUpdate(kept, git_refs.current_value(git, kept), sha),
        ]
        git_refs.apply_updates(git, updates)
    after_rollback(session, lambda path=git.path: _take_back(path, updates))


def _take_back(path: str, updates: list[RefUpdate]) -> None:
    repo = open_repo(path)
    try:
        git_refs.undo_updates(repo, updates)
    finally:
        repo.close()


def _create(
    session: Session,
    git: Repo,
    repo: Repository,
    author: User,
    *,
    title: str,
    description: str,
    base: str,
    head_sha: str,
    merge_base: str,
    head_repository: Repository | None = None,
    head_branch: str | None = None,
    topic: str | None = None,
    gerrit_change_id: str | None = None,
    depends_on: Change | None = None,
    work_in_progress: bool = False,
    private: bool = False,
    message: str = "",
) -> Change:
    title = (title or "").strip()
    if not title:
        raise Invalid("a change needs a title", field="title")
    if len(title) > MAX_TITLE:
        raise Invalid(f"the title is longer than {MAX_TITLE} characters", field="title")
    change = Change(
        repository_id=repo.id,
        number=next_number(session, repo),
        title=title,
        description=(description or "").strip(),
        author=author,
        base_branch=base,
        head_repository_id=head_repository.id if head_repository else None,
        head_branch=head_branch,
        topic=topic,
        gerrit_change_id=gerrit_change_id,
        depends_on=depends_on,
        work_in_progress=work_in_progress,
        private=private,
        head_sha=head_sha,
    )
    session.add(change)
    session.flush()
    session.add(
        PatchSet(
            change=change,
            number=1,
            head_sha=head_sha,
            base_sha=merge_base,
            uploader=author,
            message=message,
        )
    )
    session.add(ChangeEvent(change_id=change.id, actor_id=author.id, kind="opened"))
    notify_mentions(session, change, author, change.description)
    session.flush()
    _store_head(session, git, change, head_sha, 1)
    events.publish(
        session, events.ChangeOpened(change=change, sender=author, repo_path=Path(git.path))
    )
    return change


def open_change(
    session: Session,
    repos_dir: Path,
    repo: Repository,
    author: User,
    *,
    title: str,
    base: str,
    head: str,
    description: str = "",
    draft: bool = False,
) -> Change:
    """Open a change from a branch of this repository, or "owner:branch" of a fork of it;
    a `draft` is opened as one (receivers of its `opened` event see it so, as on GitHub)."""
    require(session, author, "read", repo)
    head_repository, head_branch = repo, head
    if ":" in head:
        owner_name, head_branch = head.split(":", 1)
        head_repository = _fork_of(session, repo, owner_name, author)
    with open_git(repos_dir, repo) as git:
        base_sha = _branch_tip(git, base, "base")
        if head_repository.id == repo.id:
            head_sha = _branch_tip(git, head_branch, "head")
        else:
            with open_git(repos_dir, head_repository) as source:
                head_sha = _branch_tip(source, head_branch, "head")
                copy_objects(source, git, head_sha)
        if head_repository.id == repo.id and head_branch == base:
            raise Invalid("the base and head branches are the same", field="head")
        merge_base = _merge_base(git, base_sha, head_sha)
        _check_has_commits(base_sha, head_sha, merge_base, base, head)
        return _create(
            session,
            git,
            repo,
            author,
            title=title,
            description=description,
            base=base,
            head_sha=head_sha,
            merge_base=merge_base,
            head_repository=head_repository,
            head_branch=head_branch,
            work_in_progress=draft,
        )


def create_uploaded_change(
    session: Session,
    git: Repo,
    repo: Repository,
    author: User,
    *,
    title: str,
    description: str,
    base: str,
    head_sha: str,
    parent_sha: str | None = None,
    **gerrit,
) -> Change:
    """A change from a commit pushed to refs/for/BASE (`forge.review.uploads`); `gerrit` holds
    what push options and the chain say: topic, Change-Id, the change it depends on, ..."""
    merge_base = parent_sha or _merge_base(git, _branch_tip(git, base, "target"), head_sha)
    return _create(
        session,
        git,
        repo,
        author,
        title=title,
        description=description,
        base=base,
        head_sha=head_sha,
        merge_base=merge_base,
        **gerrit,
    )


def _fork_of(session: Session, repo: Repository, owner_name: str, viewer: User) -> Repository:
    owner = find_user(session, owner_name)
    fork = None
    if owner is not None:
        fork = session.scalar(
            select(Repository).where(
                Repository.owner_id == owner.id, Repository.fork_of_id == repo.id
            )
        )
    if fork is None or not can(session, viewer, "read", fork):
        raise Invalid(f"{owner_name} has no fork of {repo.full_name}", field="head")
    return fork


# --- patch sets -----------------------------------------------------------------------------


def add_patch_set(
    session: Session,
    git: Repo,
    change: Change,
    uploader: User | None,
    head_sha: str,
    message: str = "",
    parent_sha: str | None = None,
) -> PatchSet | None:
    """Record a new version of an open change; None when the head did not move."""
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; reopen it first")
    if head_sha == change.head_sha:
        return None
    base_sha = _branch_tip(git, change.base_branch, "base")
    # A change in a chain is shown against the change it sits on (`parent_sha`, that one's
    # head), not against the branch, as Gerrit shows it.
    merge_base = parent_sha or _merge_base(git, base_sha, head_sha)
    previous = change.current_patch_set
    number = previous.number + 1
    patch_set = PatchSet(
        change=change,
        number=number,
        head_sha=head_sha,
        base_sha=merge_base,
        uploader=uploader,
        message=message,
    )
    session.add(patch_set)
    from forge.review.reviews import carry_comments

    carry_comments(session, Path(git.path), change, change.head_sha, head_sha)
    before, change.head_sha = change.head_sha, head_sha
    change.updated_at = utcnow()
    session.add(
        ChangeEvent(
            change_id=change.id,
            actor_id=uploader.id if uploader else None,
            kind="patch_set",
            detail=f"{number}:{head_sha}",
        )
    )
    if uploader is None or uploader.id != change.author_id:
        notify(session, change.author_id, change, "author", f"patch set {number} uploaded")
    session.flush()
    _store_head(session, git, change, head_sha, number)
    # Votes carry over (or not), CI runs the new head, the merge queue lets the change go, and
    # webhooks say `synchronize`: the subscribers of the event (forge.subscribers).
    events.publish(
        session,
        events.PatchSetUploaded(
            change=change,
            sender=uploader,
            before=before,
            after=head_sha,
            previous=previous,
            patch_set=patch_set,
            repo_path=Path(git.path),
        ),
    )
    return patch_set


def follow_branch_pushes(
    session: Session, repos_dir: Path, repo: Repository, pusher: User | None, updates
) -> list[tuple[Change, PatchSet]]:
    """A push to a branch that open changes come from adds a patch set to each of them."""
    moved = {u.branch: u.new for u in updates if u.branch and not u.deleted}
    if not moved:
        return []
    changes = session.scalars(
        select(Change).where(
            Change.head_repository_id == repo.id,
            Change.state == "open",
            Change.head_branch.in_(list(moved)),
        )
    ).all()
    added = []
    for change in changes:
        target = change.repository
        with open_git(repos_dir, target) as git:
            if target.id != repo.id:
                with open_git(repos_dir, repo) as source:
                    copy_objects(source, git, moved[change.head_branch])
            patch_set = add_patch_set(session, git, change, pusher, moved[change.head_branch])
        if patch_set is not None:
            added.append((change, patch_set))
    return added


# --- editing, closing, reopening, commenting --------------------------------------------------


def _require_author_or(session: Session, actor: User, change: Change, role: str) -> None:
    if actor.id != change.author_id:
        require(session, actor, role, change.repository)


def edit_change(
    session: Session,
    actor: User,
    change: Change,
    *,
    title: str | None = None,
    description: str | None = None,
) -> Change:
    _require_author_or(session, actor, change, "triage")
    before = {"title": change.title, "body": change.description}
    if title is not None:
        title = title.strip()
        if not title or len(title) > MAX_TITLE:
            raise Invalid(f"the title must have 1 to {MAX_TITLE} characters", field="title")
        change.title = title
    if description is not None:
        change.description = description.strip()
    change.updated_at = utcnow()
    after = {"title": change.title, "body": change.description}
    edits = {key: {"from": before[key]} for key in before if before[key] != after[key]}
    if edits:
        events.publish(session, events.ChangeEdited(change=change, sender=actor, changes=edits))
    return change


def close_change(session: Session, actor: User, change: Change) -> Change:
    _require_author_or(session, actor, change, "triage")
    if change.state != "open":
        raise Invalid(f"change #{change.number} is already {change.state}")
    change.state, change.closed_at = "closed", utcnow()
    session.add(ChangeEvent(change_id=change.id, actor_id=actor.id, kind="closed"))
    events.publish(session, events.ChangeClosed(change=change, sender=actor))
    return change


def reopen_change(session: Session, repos_dir: Path, actor: User, change: Change) -> Change:
    _require_author_or(session, actor, change, "triage")
    if change.state != "closed":
        raise Invalid(f"change #{change.number} is {change.state}; only closed changes reopen")
    with open_git(repos_dir, change.repository) as git:
        _branch_tip(git, change.base_branch, "base")
    change.state, change.closed_at = "open", None
    session.add(ChangeEvent(change_id=change.id, actor_id=actor.id, kind="reopened"))
    events.publish(session, events.ChangeReopened(change=change, sender=actor))
    return change


def add_comment(session: Session, actor: User, change: Change, body: str) -> ChangeComment:
    require(session, actor, "read", change.repository)
    body = (body or "").strip()
    if not body:
        raise Invalid("a comment needs some text", field="body")
    comment = ChangeComment(change_id=change.id, author=actor, body=body)
    session.add(comment)
    change.updated_at = utcnow()
    if actor.id != change.author_id:
        notify(session, change.author_id, change, "author", f"{actor.name} commented")
    notify_mentions(session, change, actor, body)
    session.flush()
    events.publish(session, events.ChangeCommented(change=change, comment=comment, sender=actor))
    return comment


def conversation(session: Session, change: Change) -> list[ChangeComment]:
    """The change's conversation comments, oldest first."""
    query = select(ChangeComment).where(ChangeComment.change_id == change.id)
    return list(session.scalars(query.order_by(ChangeComment.id)))


def get_comment(session: Session, repo: Repository, comment_id: int) -> ChangeComment:
    """A conversation comment on any change of `repo`, by its id."""
    comment = session.scalar(
        select(ChangeComment)
        .join(Change, ChangeComment.change_id == Change.id)
        .where(ChangeComment.id == comment_id, Change.repository_id == repo.id)
    )
    if comment is None:
        raise NotFound(f"no comment {comment_id} in {repo.full_name}")
    return comment


def require_author_or_maintainer(
    session: Session, actor: User, author_id: int, repo: Repository
) -> None:
    """Edits and deletions of a comment: its author, or a maintainer of the repository."""
    require(session, actor, "read", repo)
    if actor.id != author_id:
        require(session, actor, "maintain", repo)


def edit_comment(session: Session, actor: User, comment, body: str):
    """Change the text of a comment, in the conversation or on a line (a ReviewComment).
    Only the comment's author or a maintainer of the repository may."""
    change = session.get(Change, comment.change_id)
    require_author_or_maintainer(session, actor, comment.author_id, change.repository)
    body = (body or "").strip()
    if not body:
        raise Invalid("a comment needs some text", field="body")
    previous, comment.body = comment.body, body
    comment.updated_at = utcnow()
    session.flush()
    if body != previous:
        events.publish(
            session,
            events.CommentEdited(
                change=change, comment=comment, sender=actor, previous_body=previous
            ),
        )
    return comment


def delete_comment(session: Session, actor: User, comment: ChangeComment) -> None:
    """Only the comment's author or a maintainer of the repository may delete it."""
    change = session.get(Change, comment.change_id)
    require_author_or_maintainer(session, actor, comment.author_id, change.repository)
    events.publish(session, events.CommentDeleted(change=change, comment=comment, sender=actor))
    session.delete(comment)
    session.flush()


def awaiting_review(session: Session, user: User) -> list[Change]:
    """Open changes by others in repositories where the user may push (so may approve), and
    those the user was asked to review (a push's r=); work in progress waits."""
    from forge.accounts.permissions import granted_repository_ids
    from forge.models import Review
    from forge.review.reviewers import requested_of

    member_of = granted_repository_ids(user, "write")
    reviewed = select(Review.change_id).where(
        Review.author_id == user.id, Review.state != "PENDING"
    )
    query = (
        select(Change)
        .join(Repository, Change.repository_id == Repository.id)
        .where(
            Change.state == "open",
            Change.author_id != user.id,
            Change.work_in_progress.is_(False),
            (Repository.owner_id == user.id)
            | Repository.id.in_(member_of)
            | Change.id.in_(requested_of(user)),
            Change.id.not_in(reviewed),
        )
        .order_by(Change.updated_at.desc())
        .limit(200)
    )
    return list(session.scalars(query))
