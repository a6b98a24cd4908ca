"""Who may find what: forge.accounts.permissions' rules as conditions on many rows at once.

A repository is found by those who may read it (`permissions.role_of`): anyone when public;
its owner, its collaborators and site administrators when private; a suspended account is
nobody. A private change (Gerrit's) is found only by its author, its reviewers and those who
may write to its repository (`forge.review.gerrit_query.may_see`). The API passes the viewer
its token speaks for: a token without the `repo` scope is anonymous here as everywhere.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from forge.accounts.permissions import ROLE_RANK, ROLES
from forge.models import Change, ChangeReviewer, Collaborator, Repository, User


def readable_repositories(viewer: User | None):
    """A condition on Repository; None when the viewer reads every repository."""
    if viewer is None or not viewer.is_active:
        return Repository.is_private.is_(False)
    if viewer.is_admin:
        return None
    shared = select(Collaborator.repository_id).where(Collaborator.user_id == viewer.id)
    return or_(
        Repository.is_private.is_(False),
        Repository.owner_id == viewer.id,
        Repository.id.in_(shared),
    )


def visible_changes(viewer: User | None):
    """A condition on Change (joined with its Repository) for its own privacy; the
    repository's readability is `readable_repositories`'."""
    if viewer is None or not viewer.is_active:
        return Change.private.is_(False)
    if viewer.is_admin:
        return None
    writing = [role for role in ROLES if ROLE_RANK[role] >= ROLE_RANK["write"]]
    writers_of = select(Collaborator.repository_id).where(
        Collaborator.user_id == viewer.id, Collaborator.role.in_(writing)
    )
    reviewing = select(ChangeReviewer.change_id).where(ChangeReviewer.user_id == viewer.id)
    return or_(
        Change.private.is_(False),
        Change.author_id == viewer.id,
        Repository.owner_id == viewer.id,
        Repository.id.in_(writers_of),
        Change.id.in_(reviewing),
    )
