"""A person's contributions, for their profile: the changes they opened and merged and the
reviews they gave, each dated, and counted by day for the last year's calendar. Only what the
viewer may see is counted at all (a private repository's, or a private change's, work is left
out for others, so the calendar does not hint at it either)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.db import utcnow
from forge.models import Change, Review, User
from forge.review.gerrit_query import may_see

DAYS = 364  # 52 weeks, as GitHub's calendar


@dataclass(frozen=True)
class Contribution:
    kind: str  # "opened", "merged" or "reviewed"
    change: Change
    when: datetime


@dataclass(frozen=True)
class Calendar:
    weeks: list[list[tuple[date, int]]]  # columns of seven days, Sunday first
    total: int
    busiest: int


def contributions_of(
    session: Session, user: User, viewer: User | None, since: datetime | None = None
) -> list[Contribution]:
    """The user's contributions since `since` (a year ago) that the viewer may see, newest
    first."""
    since = since or utcnow() - timedelta(days=DAYS + 7)
    found: list[Contribution] = []
    opened = select(Change).where(Change.author_id == user.id, Change.created_at >= since)
    found += [Contribution("opened", c, c.created_at) for c in session.scalars(opened)]
    merged = select(Change).where(Change.merged_by_id == user.id, Change.merged_at >= since)
    found += [Contribution("merged", c, c.merged_at) for c in session.scalars(merged)]
    reviewed = select(Review).where(
        Review.author_id == user.id,
        Review.submitted_at.is_not(None),
        Review.submitted_at >= since,
    )
    for review in session.scalars(reviewed):
        change = session.get(Change, review.change_id)
        found.append(Contribution("reviewed", change, review.submitted_at))
    seen: dict[int, bool] = {}

    def visible(change: Change) -> bool:
        if change.id not in seen:
            seen[change.id] = may_see(session, viewer, change)
        return seen[change.id]

    found = [item for item in found if visible(item.change)]
    return sorted(found, key=lambda item: item.when, reverse=True)


def calendar(contributions: list[Contribution], today: date | None = None) -> Calendar:
    """The last 52 weeks and this one, as columns of days with their counts."""
    today = today or utcnow().date()
    per_day = Counter(item.when.date() for item in contributions)
    start = today - timedelta(days=DAYS)
    start -= timedelta(days=(start.weekday() + 1) % 7)  # back to a Sunday
    weeks, day = [], start
    while day <= today:
        week = []
        for _ in range(7):
            if day <= today:
                week.append((day, per_day.get(day, 0)))
            day += timedelta(days=1)
        weeks.append(week)
    counts = [n for week in weeks for _day, n in week]
    return Calendar(weeks=weeks, total=sum(counts), busiest=max(counts, default=0))
