"""The review queue: the open changes a reviewer may vote on, the neediest first, and claims
that keep two reviewers from reviewing the same change at once.

Need is the number of *qualified* votes a change has: non-stale votes on the label (by
default Code-Review) with a value, not by its author. Fewest first, then oldest. A reviewer's
queue skips their own changes, those they already voted on (current patch set) and those
someone else claimed. One SQL statement picks the page, the counting done in the database, so
the queue answers as fast with ten thousand open changes as with ten. A reviewer holds at most
`max_claims` live claims at once (the caller passes FORGE_MAX_CLAIMS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from forge.accounts import privileges, trust
from forge.accounts.permissions import can, granted_repository_ids, require
from forge.accounts.privileges import CODE_REVIEW, VERIFIED
from forge.db import added_once, utcnow
from forge.errors import Conflict, Forbidden, Invalid, NotFound
from forge.models import Change, PatchSet, Repository, User
from forge.models.quality import Label, ReviewClaim, Vote

CLAIM_FOR = timedelta(minutes=30)
# Labels every repository has (their rows are written when first read, so may be missing).
BUILT_IN_LABELS = (CODE_REVIEW, VERIFIED)


@dataclass
class QueueItem:
    change: Change
    qualified_votes: int
    claimed_by: User | None
    claim_expires_at: datetime | None


@dataclass
class QueuePage:
    items: list[QueueItem]
    has_next: bool
    label: str


def _readable(user: User):
    """The repositories the user may read, as a condition on Repository."""
    if user.is_admin:
        return None
    member_of = granted_repository_ids(user)
    return or_(
        Repository.is_private.is_(False),
        Repository.owner_id == user.id,
        Repository.id.in_(member_of),
    )


def review_queue(
    session: Session,
    user: User,
    repository: Repository | None = None,
    label: str | None = None,
    limit: int = 30,
    offset: int = 0,
    now: datetime | None = None,
    public_only: bool = False,
) -> QueuePage:
    """The page of the user's queue: changes they may vote on, neediest and oldest first."""
    label = (label or CODE_REVIEW).strip()
    if not label or len(label) > 64:
        raise Invalid("label must name a label", field="label")
    if not user.is_active:
        return QueuePage([], False, label)
    if repository is not None:
        require(session, user, "read", repository)
    now = now or utcnow()
    # Three passes, each a hash join or an index range, whatever the database: the open
    # changes the user did not write, with their current patch set; the tally of qualified
    # votes on those; the user's own votes on those. Then the page is picked from these
    # narrow rows and only its changes are joined to what the answer shows. (A count per
    # change in a correlated sub-query costs PostgreSQL a sub-plan run for every open change.)
    candidates = (
        select(
            Change.id.label("id"),
            Change.author_id.label("author_id"),
            Change.created_at.label("created_at"),
            Change.repository_id.label("repository_id"),
            func.max(PatchSet.number).label("current"),
        )
        .join(PatchSet, PatchSet.change_id == Change.id)
        .where(
            Change.state == "open",
            Change.author_id != user.id,
            # Work in progress waits for its author; a private change is not everyone's.
            Change.work_in_progress.is_(False),
            Change.private.is_(False),
        )
        .group_by(Change.id, Change.author_id, Change.created_at, Change.repository_id)
    )
    if repository is not None:
        candidates = candidates.where(Change.repository_id == repository.id)
    open_changes = candidates.cte("open_changes")
    on_current = and_(
        open_changes.c.id == Vote.change_id, open_changes.c.current == Vote.patch_set_number
    )
    counted = and_(Vote.label == label, Vote.value != 0, Vote.user_id != open_changes.c.author_id)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite runs a correlated count as an index range per change, faster than a pass.
        tally = None
        qualified = (
            select(func.count())
            .select_from(Vote)
            .where(on_current, counted)
            .correlate(open_changes)
            .scalar_subquery()
            .label("qualified")
        )
    else:
        tally = (
            select(Vote.change_id.label("change_id"), func.count().label("votes"))
            .join(open_changes, and_(on_current, counted))
            .group_by(Vote.change_id)
            .cte("tally")
        )
        qualified = func.coalesce(tally.c.votes, 0).label("qualified")
    voted = (
        select(Vote.change_id)
        .join(open_changes, on_current)
        .where(Vote.user_id == user.id, Vote.label == label)
    )
    claimed_by_other = select(ReviewClaim.change_id).where(
        ReviewClaim.user_id != user.id, ReviewClaim.expires_at > now
    )
    my_claim = and_(
        ReviewClaim.change_id == open_changes.c.id,
        ReviewClaim.user_id == user.id,
        ReviewClaim.expires_at > now,
    )
    query = (
        select(
            open_changes.c.id,
            open_changes.c.created_at,
            qualified,
            ReviewClaim.expires_at.label("claim_expires_at"),
        )
        .join(Repository, Repository.id == open_changes.c.repository_id)
        .outerjoin(ReviewClaim, my_claim)
        .where(open_changes.c.id.not_in(voted), open_changes.c.id.not_in(claimed_by_other))
    )
    if tally is not None:
        query = query.outerjoin(tally, tally.c.change_id == open_changes.c.id)
    readable = Repository.is_private.is_(False) if public_only else _readable(user)
    if readable is not None:
        query = query.where(readable)
    if label not in BUILT_IN_LABELS:
        query = query.where(
            Repository.id.in_(select(Label.repository_id).where(Label.name == label))
        )
    page = (
        query.order_by(qualified, open_changes.c.created_at, open_changes.c.id)
        .limit(limit + 1)
        .offset(offset)
        .subquery("page")
    )
    rows = (
        session.execute(
            select(Change, page.c.qualified, page.c.claim_expires_at)
            .join(page, page.c.id == Change.id)
            .order_by(page.c.qualified, page.c.created_at, page.c.id)
            .options(
                joinedload(Change.repository).joinedload(Repository.fork_of),
                joinedload(Change.head_repository),
                selectinload(Change.patch_sets),
            )
        )
        .unique()
        .all()
    )
    items = [
        QueueItem(change, int(count or 0), user if expires else None, expires)
        for change, count, expires in rows[:limit]
    ]
    return QueuePage(items, len(rows) > limit, label)


# --- claims -------------------------------------------------------------------------------------


def _claim_of(session: Session, change: Change) -> ReviewClaim | None:
    return session.scalar(select(ReviewClaim).where(ReviewClaim.change_id == change.id))


def claim(
    session: Session, user: User, change: Change, max_claims: int, now: datetime | None = None
):
    """Claim the change for review for 30 minutes (again: the claim is renewed). Someone
    else's live claim refuses it with Conflict, naming them and until when, unless they hold no
    trust in the repository and the claimer does (accounts without standing cannot hold
    changes away from the reviewers whose votes count); a reviewer who already holds
    `max_claims` live claims on other changes is refused with TooManyClaims, and nothing is
    written."""
    require(session, user, "read", change.repository)
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; only open changes are reviewed")
    if change.author_id == user.id:
        raise Invalid("you cannot claim your own change for review")
    return take_claim(
        session, user, ReviewClaim, ReviewClaim.change_id, change.id, max_claims,
        now=now or utcnow(),
        conflict=lambda row: _conflict(change, row),
        outranks=lambda row: _outranks(session, user, row, change),
    )  # fmt: skip


def take_claim(session: Session, user: User, model, subject, subject_id: int, max_claims: int,
               *, now: datetime, conflict, outranks):  # fmt: skip
    """The claim both queues share (a change here, an issue in forge.issues.triage_queue):
    `model` is the claim's table, `subject` its unique column naming what is claimed;
    `conflict(row)` makes the Conflict that names the holder, `outranks(row)` says whether
    the claimer may take a live claim over."""
    # The same person claiming in two requests at once: the second waits here until the
    # first has committed, then counts its claim.
    _lock_claims_of(session, user)
    existing = session.scalar(select(model).where(subject == subject_id))
    live = existing is not None and existing.expires_at > now
    if live and existing.user_id != user.id and not outranks(existing):
        raise conflict(existing)
    if not (live and existing.user_id == user.id):  # renewing one's own claim is no new one
        held = session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.user_id == user.id, model.expires_at > now, subject != subject_id)
        )
        if held >= max_claims:
            raise TooManyClaims(held)
    if existing is not None:
        existing.user_id, existing.expires_at = user.id, now + CLAIM_FOR
        session.flush()
        session.refresh(existing, ["user"])
        return existing
    row = model(user_id=user.id, expires_at=now + CLAIM_FOR, **{subject.key: subject_id})
    # Two people pressing Claim at once: the unique subject column lets one through.
    if not added_once(session, row):
        raise conflict(session.scalar(select(model).where(subject == subject_id)))
    session.refresh(row, ["user"])
    return row


def _outranks(session: Session, user: User, existing: ReviewClaim, change: Change) -> bool:
    """Whether `user` holds trust in the change's repository and the claim's holder none."""
    holder = session.get(User, existing.user_id)
    if holder is None:
        return True
    weights = trust.trusts_of(
        session, change.repository, [user, holder], privileges.rules_of(session)
    )
    return weights[user.id].weight > 0 and weights[holder.id].weight <= 0


class TooManyClaims(Invalid):
    """The reviewer holds as many live claims as one may at once."""

    def __init__(self, held: int):
        claims = "claim" if held == 1 else "claims"
        super().__init__(
            f"you hold {held} {claims} already (the most one reviewer may hold at once); "
            "finish or release one first"
        )
        self.held = held


def _lock_claims_of(session: Session, user: User) -> None:
    """Hold the user's row until the transaction ends, so that counting their claims and
    adding one are not interleaved with another request of theirs doing the same."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.id == user.id).with_for_update())
    else:
        # SQLite reads outside a transaction until the first write (pysqlite begins one only
        # then), so a count would not hold off a parallel insert: write first, a no-op
        # that takes the database's one write lock (a second request waits for the commit).
        users = User.__table__
        session.execute(
            users.update().where(users.c.id == user.id).values(updated_at=users.c.updated_at)
        )


def _conflict(change: Change, claim_row: ReviewClaim | None) -> Conflict:
    if claim_row is None:
        return Conflict(f"change #{change.number} was just claimed by someone else")
    until = claim_row.expires_at.strftime("%H:%M")
    return Conflict(
        f"change #{change.number} is claimed by {claim_row.user.name} until {until} UTC"
    )


def release(session: Session, user: User, change: Change, now: datetime | None = None) -> None:
    """Give up one's claim. A maintainer may free a change someone else claimed."""
    require(session, user, "read", change.repository)
    existing = _claim_of(session, change)
    now = now or utcnow()
    if existing is None or existing.expires_at <= now:
        raise NotFound(f"change #{change.number} is not claimed")
    if existing.user_id != user.id and not can(session, user, "maintain", change.repository):
        raise Forbidden(f"change #{change.number} is claimed by {existing.user.name}, not you")
    session.delete(existing)
    session.flush()
