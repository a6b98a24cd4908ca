"""Votes: giving, changing and taking back a vote on a change, and what a new patch set does
to them.

Each person has at most one *vote* per label (`forge.gate.labels`) on a change; a vote given
on an older patch set than the current one is *stale*: kept and shown, never counted, except
that the values a label copies move to the new patch set when it is a trivial rebase of the
previous one (the same change on a newer base, or only a new commit message), as Gerrit's copy
conditions do. A GitHub review's verdict is the reviewer's Code-Review vote.

forge's CI votes Verified through an account of its own (`ci_voter`); a Verified vote
recorded *as* forge-ci (the merge queue ejecting a change) stands until the next patch set.
How the votes are read and weighed is `forge.gate.tally`; what they add up to,
`forge.gate.quality_gate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts import privileges
from forge.accounts.privileges import CI_VOTER, CODE_REVIEW, VERIFIED
from forge.config import ReputationRules
from forge.db import added_once, utcnow
from forge.errors import Invalid
from forge.gate.labels import copy_values_of, find_label, is_int, labels_of
from forge.git import merge as git_merge
from forge.git.storage import open_repo
from forge.models import Change, ChangeEvent, PatchSet, User
from forge.models.quality import Vote

MAX_MESSAGE = 65536


def ci_voter(session: Session) -> User:
    """The account forge's CI votes with: no password, never signs in (suspended), its name
    reserved so nobody else can take it."""
    found = session.scalar(select(User).where(User.lower_name == CI_VOTER))
    if found is not None:
        return found
    bot = User(
        name=CI_VOTER,
        lower_name=CI_VOTER,
        email="forge-ci@localhost",
        full_name="forge's CI",
        password_hash="!",  # no password hash matches this
        is_suspended=True,
    )
    if not added_once(session, bot):  # made by another request just now
        return session.scalar(select(User).where(User.lower_name == CI_VOTER))
    return bot


@dataclass
class Recorded:
    vote: Vote | None  # None when the vote was removed (or there was none to remove)
    action: str | None  # created, updated, deleted; None when nothing changed


def record_vote(
    session: Session,
    actor: User | None,
    change: Change,
    label: str,
    value,
    message: str = "",
    via: str = "web",
    *,
    rules: ReputationRules | None = None,
) -> Recorded:
    """Give, change or (value 0) take back the actor's vote on the change's current patch set.

    `actor` None is forge's CI (Verified only). Refused with Invalid for a value outside the
    label's range and Forbidden naming the missing privilege.
    """
    repo = change.repository
    rules = rules or privileges.rules_of(session)
    found = find_label(session, repo, label)
    if not is_int(value):
        raise Invalid(f"{found.name}: value must be a whole number", field="value")
    if not found.min_value <= value <= found.max_value:
        raise Invalid(
            f"{found.name} must be between {found.min_value:+d} and {found.max_value:+d}",
            field="value",
        )
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise Invalid("the message is too long", field="message")
    if actor is None:
        if found.name != VERIFIED:
            raise Invalid("forge's CI votes only on Verified", field="label")
        voter = ci_voter(session)
    else:
        privileges.check_vote(session, actor, repo, found, value, rules)
        voter = actor
    if change.state != "open":
        raise Invalid(f"change #{change.number} is {change.state}; its votes are final")
    vote = session.scalar(
        select(Vote).where(
            Vote.change_id == change.id, Vote.user_id == voter.id, Vote.label == found.name
        )
    )
    patch_set = change.current_patch_set.number
    if vote is None and value == 0:
        return Recorded(None, None)
    given = (value, patch_set, message)
    if vote is not None and (vote.value, vote.patch_set_number, vote.message) == given:
        return Recorded(vote, None)
    # Write first: on SQLite the savepoint below then nests in this transaction rather than
    # beginning one of its own (which releasing it would commit).
    change.updated_at = utcnow()
    shown = f"{found.name}:{value:+d}" if value else f"{found.name}:0"
    if via != "review":  # a review is on the timeline already, with its verdict
        session.add(ChangeEvent(change_id=change.id, actor_id=voter.id, kind="vote", detail=shown))
    session.flush()
    if value == 0:
        session.delete(vote)
        action = "deleted"
    elif vote is None:
        vote = Vote(
            change_id=change.id, user=voter, label=found.name, value=value, message=message,
            patch_set_number=patch_set, via=via,
        )  # fmt: skip
        if not added_once(session, vote):  # the same person's other request won the race
            raise Invalid(
                f"your {found.name} vote was recorded by another request just now; reload and "
                "vote again if you meant to change it",
                field="label",
            )
        action = "created"
    else:
        vote.value, vote.message, vote.patch_set_number, vote.via = value, message, patch_set, via
        vote.updated_at = utcnow()
        action = "updated"
    session.flush()
    events.publish(session, events.VoteCast(change=change, vote=vote, sender=voter, action=action))
    return Recorded(None if action == "deleted" else vote, action)


def carry_votes(
    session: Session, repo_path: Path, change: Change, previous: PatchSet, new: PatchSet
) -> int:
    """On a new patch set, votes stay on the one they were given on (so they go stale), except
    the values a label copies, which move on when the new patch set is a trivial rebase (the
    same diff on a newer base, or a new commit message only). Returns how many moved."""
    copies = {label.name: copy_values_of(label) for label in labels_of(session, change.repository)}
    movable = [
        vote
        for vote in session.scalars(
            select(Vote).where(
                Vote.change_id == change.id, Vote.patch_set_number == previous.number
            )
        )
        if vote.value in copies.get(vote.label, set())
    ]
    if not movable:
        return 0
    with open_repo(repo_path) as git:
        if not is_trivial_rebase(git, previous, new):
            return 0
    for vote in movable:
        vote.patch_set_number = new.number
    return len(movable)


def on_patch_set_uploaded(session: Session, event: events.PatchSetUploaded) -> None:
    """Subscriber: the copied votes of a trivial rebase move to the new patch set."""
    carry_votes(session, event.repo_path, event.change, event.previous, event.patch_set)


def is_trivial_rebase(git: Repo, previous: PatchSet, new: PatchSet) -> bool:
    """The new patch set makes the same change as the previous one, on its own base."""
    diff = git_merge.interdiff(
        git, previous.base_sha, previous.head_sha, new.base_sha, new.head_sha
    )
    return diff == b""


def on_review_submitted(session: Session, event: events.ReviewSubmitted) -> None:
    """Subscriber: a review's verdict is the reviewer's Code-Review vote."""
    vote_for_review(session, event.sender, event.change, event.verdict, event.review.body)


def on_review_dismissed(session: Session, event: events.ReviewDismissed) -> None:
    """Subscriber: a dismissed review's Code-Review vote is taken back, if the review gave
    it (a vote the reviewer cast by hand stays theirs to change)."""
    label = find_label(session, event.change.repository, CODE_REVIEW)
    given = session.scalar(
        select(Vote).where(
            Vote.change_id == event.change.id,
            Vote.user_id == event.review.author_id,
            Vote.label == label.name,
        )
    )
    if given is not None and given.via == "review" and given.value != 0:
        record_vote(
            session, event.review.author, event.change, label.name, 0,
            f"review dismissed by {event.sender.name}: {event.message}", "review",
        )  # fmt: skip


def vote_for_review(session: Session, reviewer: User, change: Change, event: str, body: str):
    """A GitHub review as a Code-Review vote: APPROVE is +2 from someone who may give it, else
    +1; REQUEST_CHANGES is -1 (a veto already given stays); COMMENT leaves votes alone."""
    if event not in ("APPROVE", "REQUEST_CHANGES"):
        return None
    rules = privileges.rules_of(session)
    label = find_label(session, change.repository, CODE_REVIEW)
    who = privileges.standing(session, reviewer, change.repository)
    if event == "APPROVE":
        may_approve = privileges.missing_privilege(rules, who, change.repository, label, 2) is None
        value = label.max_value if may_approve else 1
    else:
        mine = session.scalar(
            select(Vote).where(
                Vote.change_id == change.id, Vote.user_id == reviewer.id, Vote.label == label.name
            )
        )
        current = change.current_patch_set.number
        value = mine.value if mine and mine.value < 0 and mine.patch_set_number == current else -1
    return record_vote(session, reviewer, change, label.name, value, body, "review", rules=rules)
