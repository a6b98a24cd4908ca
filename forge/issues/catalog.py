"""A repository's issue labels and milestones: readers see them, writers make, edit and delete
them (GitHub asks for push access too). Label names are unique regardless of case; colours are
six hex digits (a leading '#' is dropped, as GitHub does). Milestones are numbered per
repository, open or closed, with an optional due date.

Each change is published (`IssueLabelChanged`, `MilestoneChanged`: webhooks' `label` and
`milestone` events).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts.permissions import require
from forge.db import utcnow
from forge.errors import Invalid, NotFound
from forge.models import Issue, IssueLabel, Milestone, Repository, User

_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")
MAX_LABEL = 50  # GitHub's limit on a label's name
MAX_DESCRIPTION = 100

# What a new repository's issues may be labelled with before anyone makes labels (GitHub's).
DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)


# --- labels ----------------------------------------------------------------------------------


def labels_of(session: Session, repo: Repository, viewer: User | None) -> list[IssueLabel]:
    require(session, viewer, "read", repo)
    query = select(IssueLabel).where(IssueLabel.repository_id == repo.id)
    return list(session.scalars(query.order_by(IssueLabel.lower_name)))


def get_label(session: Session, repo: Repository, viewer: User | None, name: str) -> IssueLabel:
    require(session, viewer, "read", repo)
    found = session.scalar(
        select(IssueLabel).where(
            IssueLabel.repository_id == repo.id, IssueLabel.lower_name == name.strip().lower()
        )
    )
    if found is None:
        raise NotFound(f"no label {name!r} in {repo.full_name}")
    return found


def is_colour(value) -> bool:
    return isinstance(value, str) and bool(_COLOR.match(value))


def _color(value) -> str:
    if not isinstance(value, str):
        raise Invalid("color must be six hex digits, such as f29513", field="color")
    value = value.strip().lstrip("#")
    if not _COLOR.match(value):
        raise Invalid("color must be six hex digits, such as f29513", field="color")
    return value.lower()


def _label_name(session: Session, repo: Repository, value, current: IssueLabel | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a label needs a name", field="name")
    value = value.strip()
    if len(value) > MAX_LABEL:
        raise Invalid(f"the name is too long (at most {MAX_LABEL} characters)", field="name")
    clash = session.scalar(
        select(IssueLabel).where(
            IssueLabel.repository_id == repo.id, IssueLabel.lower_name == value.lower()
        )
    )
    if clash is not None and clash is not current:
        raise Invalid(f"a label named {value!r} already exists", field="name")
    return value


def _description(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise Invalid(
            f"description must be text of at most {MAX_DESCRIPTION} characters",
            field="description",
        )
    return value


def create_label(
    session: Session, repo: Repository, actor: User, *, name, color="ededed", description=None,
    base_url=None,
) -> IssueLabel:  # fmt: skip
    require(session, actor, "write", repo)
    name = _label_name(session, repo, name, None)
    label = IssueLabel(
        repository_id=repo.id,
        name=name,
        lower_name=name.lower(),
        color=_color(color if color is not None else "ededed"),
        description=_description(description),
    )
    session.add(label)
    session.flush()
    _label_event(session, repo, label, actor, "created", base_url)
    return label


def update_label(
    session: Session, repo: Repository, actor: User, label: IssueLabel, *, name=None,
    color=None, description=None, base_url=None,
) -> IssueLabel:  # fmt: skip
    require(session, actor, "write", repo)
    changes = {}
    if name is not None:
        name = _label_name(session, repo, name, label)
        if name != label.name:
            changes["name"] = {"from": label.name}
            label.name, label.lower_name = name, name.lower()
    if color is not None:
        color = _color(color)
        if color != label.color:
            changes["color"] = {"from": label.color}
            label.color = color
    if description is not None:
        description = _description(description)
        if description != label.description:
            changes["description"] = {"from": label.description}
            label.description = description
    session.flush()
    if changes:
        _label_event(session, repo, label, actor, "edited", base_url, changes)
    return label


def delete_label(
    session: Session, repo: Repository, actor: User, label: IssueLabel, base_url=None
) -> None:
    require(session, actor, "write", repo)
    _label_event(session, repo, label, actor, "deleted", base_url)
    session.delete(label)
    session.flush()


def _label_event(session, repo, label, actor, action, base_url, changes=None) -> None:
    events.publish(
        session,
        events.IssueLabelChanged(label=label, repo=repo, sender=actor, action=action,
                                 changes=changes or {}, base_url=base_url),
    )  # fmt: skip


def add_default_labels(session: Session, repo: Repository, actor: User) -> list[IssueLabel]:
    """GitHub's starting set, for a repository that has no labels yet."""
    if labels_of(session, repo, actor):
        return []
    return [
        create_label(session, repo, actor, name=name, color=color, description=about)
        for name, color, about in DEFAULT_LABELS
    ]


# --- milestones ------------------------------------------------------------------------------


def milestones_of(
    session: Session, repo: Repository, viewer: User | None, state: str = "open"
) -> list[Milestone]:
    require(session, viewer, "read", repo)
    if state not in ("open", "closed", "all"):
        raise Invalid("state must be open, closed or all", field="state")
    query = select(Milestone).where(Milestone.repository_id == repo.id)
    if state != "all":
        query = query.where(Milestone.state == state)
    return list(session.scalars(query.order_by(Milestone.number)))


def get_milestone(
    session: Session, repo: Repository, viewer: User | None, number: int
) -> Milestone:
    require(session, viewer, "read", repo)
    found = session.scalar(
        select(Milestone).where(Milestone.repository_id == repo.id, Milestone.number == number)
    )
    if found is None:
        raise NotFound(f"no milestone {number} in {repo.full_name}")
    return found


def issue_counts(session: Session, milestone: Milestone) -> tuple[int, int]:
    """(open, closed) issues in the milestone."""
    rows = session.execute(
        select(Issue.state, func.count(Issue.id))
        .where(Issue.milestone_id == milestone.id)
        .group_by(Issue.state)
    )
    counts = dict(rows.all())
    return counts.get("open", 0), counts.get("closed", 0)


def _milestone_title(session, repo, value, current: Milestone | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a milestone needs a title", field="title")
    value = value.strip()
    if len(value) > 255:
        raise Invalid("the title is too long (at most 255 characters)", field="title")
    clash = session.scalar(
        select(Milestone).where(Milestone.repository_id == repo.id, Milestone.title == value)
    )
    if clash is not None and clash is not current:
        raise Invalid(f"a milestone titled {value!r} already exists", field="title")
    return value


def _milestone_state(value) -> str:
    if value not in ("open", "closed"):
        raise Invalid("state must be open or closed", field="state")
    return value


def create_milestone(
    session: Session, repo: Repository, actor: User, *, title, state="open", description=None,
    due_on: datetime | None = None, base_url=None,
) -> Milestone:  # fmt: skip
    require(session, actor, "write", repo)
    title = _milestone_title(session, repo, title, None)
    state = _milestone_state(state or "open")
    last = session.scalar(
        select(func.max(Milestone.number)).where(Milestone.repository_id == repo.id)
    )
    milestone = Milestone(
        repository_id=repo.id,
        number=(last or 0) + 1,
        title=title,
        state=state,
        description=description or "",
        due_on=due_on,
        creator_id=actor.id,
        closed_at=utcnow() if state == "closed" else None,
    )
    session.add(milestone)
    session.flush()
    _milestone_event(session, repo, milestone, actor, "created", base_url)
    return milestone


def update_milestone(
    session: Session, repo: Repository, actor: User, milestone: Milestone, *, title=None,
    state=None, description=None, due_on: datetime | None = None, base_url=None,
) -> Milestone:  # fmt: skip
    require(session, actor, "write", repo)
    changes = {}
    if title is not None:
        title = _milestone_title(session, repo, title, milestone)
        if title != milestone.title:
            changes["title"] = {"from": milestone.title}
            milestone.title = title
    if description is not None and description != milestone.description:
        changes["description"] = {"from": milestone.description}
        milestone.description = description
    if due_on is not None:
        changes["due_on"] = {"from": milestone.due_on.isoformat() if milestone.due_on else None}
        milestone.due_on = due_on
    if changes:
        session.flush()
        _milestone_event(session, repo, milestone, actor, "edited", base_url, changes)
    if state is not None and _milestone_state(state) != milestone.state:
        milestone.state = state
        milestone.closed_at = utcnow() if state == "closed" else None
        session.flush()
        action = "closed" if state == "closed" else "opened"
        _milestone_event(session, repo, milestone, actor, action, base_url)
    return milestone


def delete_milestone(
    session: Session, repo: Repository, actor: User, milestone: Milestone, base_url=None
) -> None:
    require(session, actor, "write", repo)
    _milestone_event(session, repo, milestone, actor, "deleted", base_url)
    session.delete(milestone)
    session.flush()


def _milestone_event(session, repo, milestone, actor, action, base_url, changes=None) -> None:
    events.publish(
        session,
        events.MilestoneChanged(milestone=milestone, repo=repo, sender=actor, action=action,
                                changes=changes or {}, base_url=base_url),
    )  # fmt: skip
