"""Who may find what: forge.accounts.permissions' rules as conditions on many rows at once.

A repository is found by those who may read it (`permissions.role_of`): anyone when public;
when private, its owner, site administrators and whoever a grant reaches (a collaborator's
role, an organization's ownership or base permission, a team's role:
`permissions.granted_repository_ids`); a suspended account is nobody. A private change
(Gerrit's) is found only by its author, its reviewers and those who may write to its
repository (`forge.review.gerrit_query.may_see`). The API passes the viewer its token speaks
for: a token without the `repo` scope is anonymous here as everywhere.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from forge.accounts.permissions import granted_repository_ids
from forge.models import Change, ChangeReviewer, Repository, User


def readable_repositories(viewer: User | None):
    """A condition on Repository; None when the viewer reads every repository."""
    if viewer is None or not viewer.is_active:
        return Repository.is_private.is_(False)
    if viewer.is_admin:
        return None
    return or_(
        Repository.is_private.is_(False),
        Repository.owner_id == viewer.id,
        Repository.id.in_(granted_repository_ids(viewer, "read")),
    )


def visible_changes(viewer: User | None):
    """A condition on Change (joined with its Repository) for its own privacy; the
    repository's readability is `readable_repositories`'."""
    if viewer is None or not viewer.is_active:
        return Change.private.is_(False)
    if viewer.is_admin:
        return None
    reviewing = select(ChangeReviewer.change_id).where(ChangeReviewer.user_id == viewer.id)
    return or_(
        Change.private.is_(False),
        Change.author_id == viewer.id,
        Repository.owner_id == viewer.id,
        Repository.id.in_(granted_repository_ids(viewer, "write")),
        Change.id.in_(reviewing),
    )
