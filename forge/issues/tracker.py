"""Issues and their comments: opening, listing, editing (with history), closing with a reason,
reopening, locking, labels, assignees and milestones on an issue, as GitHub's tracker does.

Who may do what, by the repository's roles (`forge.accounts.permissions`):
- readers see issues and open and comment on them; an issue of a repository they cannot read
  does not exist for them (NotFound, as the repository itself);
- the author of an issue edits, closes and reopens it; the author of a comment edits it;
- triage and above label, assign, set the milestone, close and reopen any issue;
- writers edit anyone's issue or comment, lock and unlock, and alone comment on a locked issue.

Every action leaves a timeline event (`IssueEvent`, GitHub's names), publishes `IssueChanged`
or `IssueCommented` (webhooks' `issues` and `issue_comment`), records the `#N` references of
the text it wrote (forge.issues.references) and tells those who follow the issue
(forge.issues.inbox).
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import can, granted_user_ids, require
from forge.accounts.users import find_user
from forge.db import utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.issues import inbox, references
from forge.models import (
    Issue,
    IssueComment,
    IssueEdit,
    IssueEvent,
    IssueLabel,
    Milestone,
    Repository,
    User,
)
from forge.models.issues import CLOSE_REASONS, LOCK_REASONS
from forge.review.changes import next_number

MAX_TITLE = 256
MAX_BODY = 65_536  # GitHub's limit on an issue's or comment's body


# --- reading ---------------------------------------------------------------------------------


def get_issue(session: Session, repo: Repository, viewer: User | None, number: int) -> Issue:
    require(session, viewer, "read", repo)
    found = session.scalar(
        select(Issue).where(Issue.repository_id == repo.id, Issue.number == number)
    )
    if found is None:
        raise NotFound(f"no issue #{number} in {repo.full_name}")
    return found


def find_issue(session: Session, repo: Repository, number: int) -> Issue | None:
    return session.scalar(
        select(Issue).where(Issue.repository_id == repo.id, Issue.number == number)
    )


def issues_of(
    session: Session,
    repo: Repository,
    viewer: User | None,
    *,
    state: str = "open",
    labels: list[str] | None = None,
    milestone: str | None = None,
    assignee: str | None = None,
    creator: str | None = None,
    mentioned: str | None = None,
    text: str | None = None,
    sort: str = "created",
    direction: str = "desc",
) -> list[Issue]:
    """The repository's issues matching GitHub's filters: `state` open, closed or all;
    `labels` all of these names; `milestone` a number, "*" (any) or "none"; `assignee` a
    login, "*" or "none"; `creator` a login; `text` words in the title or body."""
    require(session, viewer, "read", repo)
    if state not in ("open", "closed", "all"):
        raise Invalid("state must be open, closed or all", field="state")
    query = select(Issue).where(Issue.repository_id == repo.id)
    if state != "all":
        query = query.where(Issue.state == state)
    for name in labels or []:
        query = query.where(Issue.labels.any(IssueLabel.lower_name == name.strip().lower()))
    if milestone == "*":
        query = query.where(Issue.milestone_id.is_not(None))
    elif milestone == "none":
        query = query.where(Issue.milestone_id.is_(None))
    elif milestone:
        if not milestone.isdigit():
            raise Invalid("milestone must be a number, * or none", field="milestone")
        query = query.join(Milestone, Milestone.id == Issue.milestone_id).where(
            Milestone.number == int(milestone)
        )
    if assignee == "*":
        query = query.where(Issue.assignees.any())
    elif assignee == "none":
        query = query.where(~Issue.assignees.any())
    elif assignee:
        query = query.where(Issue.assignees.any(func.lower(User.name) == assignee.lower()))
    if creator:
        author = find_user(session, creator)
        query = query.where(Issue.author_id == (author.id if author else -1))
    if mentioned:
        like = f"%@{mentioned}%"
        query = query.where(or_(Issue.body.ilike(like), Issue.title.ilike(like)))
    for word in (text or "").split():
        like = f"%{word}%"
        query = query.where(or_(Issue.title.ilike(like), Issue.body.ilike(like)))
    column = {"created": Issue.created_at, "updated": Issue.updated_at}.get(sort)
    if column is None and sort != "comments":
        raise Invalid("sort must be created, updated or comments", field="sort")
    found = list(session.scalars(query.order_by(Issue.id)))
    if sort == "comments":
        counts = comment_counts(session, [i.id for i in found])
        found.sort(key=lambda i: (counts.get(i.id, 0), i.id))
    else:
        found.sort(key=lambda i: (getattr(i, sort + "_at"), i.id))
    return found if direction == "asc" else found[::-1]


def comment_counts(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    rows = session.execute(
        select(IssueComment.issue_id, func.count(IssueComment.id))
        .where(IssueComment.issue_id.in_(issue_ids))
        .group_by(IssueComment.issue_id)
    )
    return dict(rows.all())


def comments_of(session: Session, issue: Issue) -> list[IssueComment]:
    query = select(IssueComment).where(IssueComment.issue_id == issue.id)
    return list(session.scalars(query.order_by(IssueComment.id)))


def get_comment(
    session: Session, repo: Repository, viewer: User | None, comment_id: int
) -> IssueComment:
    require(session, viewer, "read", repo)
    found = session.scalar(
        select(IssueComment)
        .join(Issue, Issue.id == IssueComment.issue_id)
        .where(IssueComment.id == comment_id, Issue.repository_id == repo.id)
    )
    if found is None:
        raise NotFound(f"no comment {comment_id} in {repo.full_name}")
    return found


def events_of(session: Session, issue: Issue) -> list[IssueEvent]:
    query = select(IssueEvent).where(IssueEvent.issue_id == issue.id)
    return list(session.scalars(query.order_by(IssueEvent.id)))


def edits_of(session: Session, issue: Issue, comment: IssueComment | None = None):
    query = select(IssueEdit).where(IssueEdit.issue_id == issue.id)
    query = query.where(
        IssueEdit.comment_id == comment.id if comment else IssueEdit.comment_id.is_(None)
    )
    return list(session.scalars(query.order_by(IssueEdit.id.desc())))


def timeline(session: Session, issue: Issue) -> list[IssueComment | IssueEvent]:
    """Comments and events, oldest first, as the issue page and GitHub's timeline show them."""
    items: list = comments_of(session, issue) + events_of(session, issue)
    return sorted(items, key=lambda item: (item.created_at, isinstance(item, IssueComment)))


def assignable_people(session: Session, repo: Repository) -> list[User]:
    """Who may be assigned: those who may write to the repository (its owner, unless an
    organization, and those granted write or more)."""
    ids = granted_user_ids(session, repo, "write")
    if not repo.owner.is_organization:
        ids.add(repo.owner_id)
    people = session.scalars(select(User).where(User.id.in_(ids))) if ids else []
    return sorted(people, key=lambda u: u.name.lower())


def may_triage(session: Session, user: User | None, repo: Repository) -> bool:
    return can(session, user, "triage", repo)


# --- checks ----------------------------------------------------------------------------------


def _title(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("an issue needs a title", field="title")
    value = value.strip()
    if len(value) > MAX_TITLE:
        raise Invalid(f"the title is too long (at most {MAX_TITLE} characters)", field="title")
    return value


def _body(value, field: str = "body") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", field=field)
    if len(value) > MAX_BODY:
        raise Invalid(f"{field} is too long (at most {MAX_BODY} characters)", field=field)
    return value


def record_event(session: Session, issue: Issue, actor: User | None, event: str, **fields) -> None:
    session.add(
        IssueEvent(issue_id=issue.id, actor_id=actor.id if actor else None, event=event, **fields)
    )


def announce(session, issue: Issue, actor: User, action: str, base_url=None, **extra) -> None:
    session.flush()
    events.publish(
        session,
        events.IssueChanged(
            issue=issue, sender=actor, action=action, extra=extra, base_url=base_url
        ),
    )


def _may_edit(session: Session, actor: User, issue: Issue, author_id: int) -> None:
    require(session, actor, "read", issue.repository)
    if actor.id != author_id and not can(session, actor, "write", issue.repository):
        raise Forbidden("only its author or a writer of the repository may edit this")


# --- writing ---------------------------------------------------------------------------------


def open_issue(
    session: Session,
    repo: Repository,
    actor: User,
    *,
    title,
    body=None,
    labels: list[str] | None = None,
    assignees: list[str] | None = None,
    milestone: int | None = None,
    template_labels: tuple[str, ...] = (),
    base_url: str | None = None,
) -> Issue:
    """A new issue. Labels, assignees and a milestone are set only for those who may triage
    (as GitHub drops them silently for others); the labels an issue template names are set
    for anyone, those that exist."""
    require(session, actor, "read", repo)
    issue = Issue(
        repository=repo,
        number=0,
        title=_title(title),
        body=_body(body),
        author_id=actor.id,
        author=actor,
        state="open",
    )
    triager = may_triage(session, actor, repo)
    chosen_labels = labels_named(session, repo, labels) if labels and triager else []
    for name in template_labels:
        known = labels_named(session, repo, [name]) if label_exists(session, repo, name) else []
        chosen_labels += [label for label in known if label not in chosen_labels]
    chosen_assignees = assignable(session, repo, assignees) if assignees and triager else []
    chosen_milestone = (
        milestone_numbered(session, repo, milestone) if milestone and triager else None
    )
    issue.number = next_number(session, repo)
    session.add(issue)
    issue.labels = chosen_labels
    issue.assignees = chosen_assignees
    issue.milestone = chosen_milestone
    session.flush()
    # GitHub's timeline shows what the issue was opened with as events too.
    for label in chosen_labels:
        record_event(
            session, issue, actor, "labeled", label_name=label.name, label_color=label.color
        )
    if chosen_milestone is not None:
        record_event(session, issue, actor, "milestoned", milestone_title=chosen_milestone.title)
    for user in chosen_assignees:
        record_event(session, issue, actor, "assigned", assignee_id=user.id)
    inbox.subscribe(session, issue, actor.id)
    references.record(session, repo, actor, issue.body, source_issue=issue)
    inbox.tell_mentioned(session, issue, actor, issue.body)
    for user in chosen_assignees:
        inbox.subscribe(session, issue, user.id)
        if user.id != actor.id:
            inbox.notify(session, user.id, issue, "assign", f"{actor.name} assigned you")
    announce(session, issue, actor, "opened", base_url)
    # As GitHub: what the issue was opened with follows as events of their own.
    for label in issue.labels:
        announce(session, issue, actor, "labeled", base_url, label=label)
    for user in chosen_assignees:
        announce(session, issue, actor, "assigned", base_url, assignee=user)
    if chosen_milestone is not None:
        announce(session, issue, actor, "milestoned", base_url, milestone=chosen_milestone)
    return issue


def edit_issue(
    session: Session, issue: Issue, actor: User, *, title=None, body=None, base_url=None
) -> Issue:
    """Change the title or body; the text before is kept (IssueEdit) and shown on the page."""
    _may_edit(session, actor, issue, issue.author_id)
    new_title = _title(title) if title is not None else issue.title
    new_body = _body(body) if body is not None else issue.body
    if new_title == issue.title and new_body == issue.body:
        return issue
    changes = {}
    session.add(
        IssueEdit(
            issue_id=issue.id,
            editor_id=actor.id,
            previous_title=issue.title,
            previous_body=issue.body,
        )
    )
    if new_title != issue.title:
        record_event(session, issue, actor, "renamed", rename_from=issue.title, rename_to=new_title)
        changes["title"] = {"from": issue.title}
    if new_body != issue.body:
        changes["body"] = {"from": issue.body}
        references.record(session, issue.repository, actor, new_body, source_issue=issue)
        inbox.tell_mentioned(session, issue, actor, new_body, previous=issue.body)
    issue.title, issue.body = new_title, new_body
    issue.updated_at = utcnow()
    announce(session, issue, actor, "edited", base_url, changes=changes)
    return issue


def close_issue(
    session: Session,
    issue: Issue,
    actor: User,
    reason: str | None = "completed",
    *,
    duplicate_of: Issue | None = None,
    commit_id: str | None = None,
    change=None,
    base_url=None,
) -> Issue:
    """Close with GitHub's reason: completed, not_planned or duplicate (of `duplicate_of`).
    Closed by a merged `change` (Fixes #N), the merge is the authority: whoever landed it
    (auto-submit may land a contributor's change) need not be able to close issues, and a
    refusal here would refuse the merge itself."""
    if change is None:
        _may_close(session, actor, issue)
    reason = reason or "completed"
    if reason not in CLOSE_REASONS:
        raise Invalid(
            "state_reason must be completed, not_planned or duplicate", field="state_reason"
        )
    if issue.state == "closed":
        return issue
    now = utcnow()
    issue.state, issue.state_reason, issue.closed_at = "closed", reason, now
    issue.closed_by_id, issue.updated_at = actor.id, now
    if duplicate_of is not None:
        issue.duplicate_of_id = duplicate_of.id
        record_event(session, issue, actor, "marked_as_duplicate", source_issue_id=duplicate_of.id)
    record_event(
        session,
        issue,
        actor,
        "closed",
        state_reason=reason,
        commit_id=commit_id,
        source_change_id=change.id if change is not None else None,
    )
    inbox.tell_followers(session, issue, actor, "state_change", f"{actor.name} closed this")
    announce(session, issue, actor, "closed", base_url)
    return issue


def reopen_issue(session: Session, issue: Issue, actor: User, base_url=None) -> Issue:
    _may_close(session, actor, issue)
    if issue.state == "open":
        return issue
    issue.state, issue.state_reason, issue.closed_at = "open", "reopened", None
    issue.closed_by_id, issue.duplicate_of_id, issue.updated_at = None, None, utcnow()
    record_event(session, issue, actor, "reopened", state_reason="reopened")
    inbox.tell_followers(session, issue, actor, "state_change", f"{actor.name} reopened this")
    announce(session, issue, actor, "reopened", base_url)
    return issue


def _may_close(session: Session, actor: User, issue: Issue) -> None:
    require(session, actor, "read", issue.repository)
    if actor.id != issue.author_id and not may_triage(session, actor, issue.repository):
        raise Forbidden("only its author or a triager of the repository may close or reopen it")


def lock_issue(
    session: Session, issue: Issue, actor: User, reason: str | None = None, base_url=None
) -> Issue:
    """Lock the conversation: from now on only writers comment (GitHub's lock_reason)."""
    require(session, actor, "write", issue.repository)
    if reason is not None and reason not in LOCK_REASONS:
        raise Invalid("lock_reason must be one of: " + ", ".join(LOCK_REASONS), field="lock_reason")
    issue.locked, issue.lock_reason, issue.updated_at = True, reason, utcnow()
    record_event(session, issue, actor, "locked", lock_reason=reason)
    announce(session, issue, actor, "locked", base_url)
    return issue


def unlock_issue(session: Session, issue: Issue, actor: User, base_url=None) -> Issue:
    require(session, actor, "write", issue.repository)
    if not issue.locked:
        return issue
    issue.locked, issue.lock_reason, issue.updated_at = False, None, utcnow()
    record_event(session, issue, actor, "unlocked")
    announce(session, issue, actor, "unlocked", base_url)
    return issue


# --- comments --------------------------------------------------------------------------------


def add_comment(session: Session, issue: Issue, actor: User, body, base_url=None) -> IssueComment:
    require(session, actor, "read", issue.repository)
    if issue.locked and not can(session, actor, "write", issue.repository):
        raise Forbidden("this conversation is locked: only writers of the repository comment")
    text = _body(body).strip()
    if not text:
        raise Invalid("a comment needs some text", field="body")
    comment = IssueComment(issue_id=issue.id, issue=issue, author_id=actor.id, body=text)
    comment.author = actor
    session.add(comment)
    issue.updated_at = utcnow()
    session.flush()
    inbox.tell_followers(session, issue, actor, "comment", f"{actor.name} commented")
    inbox.subscribe(session, issue, actor.id)
    inbox.tell_mentioned(session, issue, actor, text)
    references.record(session, issue.repository, actor, text, source_issue=issue)
    events.publish(
        session,
        events.IssueCommented(issue=issue, comment=comment, sender=actor, base_url=base_url),
    )
    return comment


def edit_comment(
    session: Session, comment: IssueComment, actor: User, body, base_url=None
) -> IssueComment:
    issue = comment.issue
    _may_edit(session, actor, issue, comment.author_id)
    text = _body(body).strip()
    if not text:
        raise Invalid("a comment needs some text", field="body")
    if text == comment.body:
        return comment
    previous = comment.body
    session.add(
        IssueEdit(
            issue_id=issue.id, comment_id=comment.id, editor_id=actor.id, previous_body=previous
        )
    )
    comment.body, comment.updated_at = text, utcnow()
    references.record(session, issue.repository, actor, text, source_issue=issue)
    inbox.tell_mentioned(session, issue, actor, text, previous=previous)
    session.flush()
    events.publish(
        session,
        events.IssueCommented(
            issue=issue,
            comment=comment,
            sender=actor,
            action="edited",
            changes={"body": {"from": previous}},
            base_url=base_url,
        ),
    )
    return comment


def delete_comment(session: Session, comment: IssueComment, actor: User, base_url=None) -> None:
    issue = comment.issue
    _may_edit(session, actor, issue, comment.author_id)
    events.publish(
        session,
        events.IssueCommented(
            issue=issue, comment=comment, sender=actor, action="deleted", base_url=base_url
        ),
    )
    session.delete(comment)
    session.flush()


# --- what labels, assignees and a milestone name (forge.issues.metadata sets them) -----------


def labels_named(session: Session, repo: Repository, names) -> list[IssueLabel]:
    found = []
    for name in names or []:
        if not isinstance(name, str) or not name.strip():
            raise Invalid("label names must be non-empty strings", field="labels")
        label = session.scalar(
            select(IssueLabel).where(
                IssueLabel.repository_id == repo.id,
                IssueLabel.lower_name == name.strip().lower(),
            )
        )
        if label is None:
            raise Invalid(f"no label named {name!r} in {repo.full_name}", field="labels")
        if label not in found:
            found.append(label)
    return found


def label_exists(session: Session, repo: Repository, name: str) -> bool:
    return (
        session.scalar(
            select(IssueLabel.id).where(
                IssueLabel.repository_id == repo.id, IssueLabel.lower_name == name.strip().lower()
            )
        )
        is not None
    )


def assignable(session: Session, repo: Repository, logins) -> list[User]:
    """The people named, each of whom must be able to write to the repository (GitHub's
    assignees are its collaborators with push access)."""
    found: list[User] = []
    for login in logins or []:
        user = find_user(session, login) if isinstance(login, str) else None
        if user is None or not can(session, user, "write", repo):
            raise Invalid(f"{login!r} cannot be assigned to issues in {repo.full_name}",
                          field="assignees")  # fmt: skip
        if user not in found:
            found.append(user)
    return found


def milestone_numbered(session: Session, repo: Repository, number) -> Milestone:
    found = session.scalar(
        select(Milestone).where(Milestone.repository_id == repo.id, Milestone.number == number)
    )
    if found is None:
        raise Invalid(f"no milestone {number} in {repo.full_name}", field="milestone")
    return found
