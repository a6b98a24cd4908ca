"""The inbox's subscribers: who hears of what happens to a change.

The review domain already tells those it addresses directly (a change's author of comments,
reviews and new patch sets; the mentioned; the asked to review). These subscribers add the
news that comes from other domains (votes, CI, the merge queue) and the repository's watchers
(`forge.repos.watching`). Everything goes through `forge.review.inbox.notify`, so a user
hears of one action once, never of what they did themselves, never from a repository they
ignore, and never of a change they may not see.

Each runs in the publisher's transaction (`forge.events`): the news is committed with what
it tells of, and mail, when the site sends any, follows through the outbox (`mail`, run by the
job `forge.jobs.mail_notification`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from forge import events
from forge.accounts.mail import queue_mail
from forge.models import Change, Notification, User
from forge.repos.watching import watchers
from forge.review.inbox import notify

FAILED_RUNS = ("failed", "timed_out", "errored")


def _tell_author(session: Session, change: Change, sender: User | None, reason: str, detail: str):
    if sender is None or sender.id != change.author_id:
        notify(session, change.author_id, change, reason, detail)


def _tell_watchers(session: Session, change: Change, sender: User | None, detail: str) -> None:
    for user in watchers(session, change.repository):
        if sender is None or user.id != sender.id:
            notify(session, user.id, change, "subscribed", detail)


def on_change_opened(session: Session, event: events.ChangeOpened) -> None:
    _tell_watchers(session, event.change, event.sender, f"{event.sender.name} opened it")


def on_change_commented(session: Session, event: events.ChangeCommented) -> None:
    _tell_watchers(session, event.change, event.sender, f"{event.sender.name} commented")


def on_review_submitted(session: Session, event: events.ReviewSubmitted) -> None:
    detail = f"{event.sender.name} reviewed: {event.review.state}"
    _tell_watchers(session, event.change, event.sender, detail)


def on_vote_cast(session: Session, event: events.VoteCast) -> None:
    if event.action == "deleted" or event.vote.via == "ci":
        return  # a vote taken back is no news; CI's own verdict is told by on_ci_run_finished
    vote = event.vote
    detail = f"{event.sender.name} voted {vote.label} {vote.value:+d}"
    _tell_author(session, event.change, event.sender, "author", detail)


def on_change_merged(session: Session, event: events.ChangeMerged) -> None:
    detail = f"merged by {event.sender.name}"
    _tell_author(session, event.change, event.sender, "state_change", detail)
    _tell_watchers(session, event.change, event.sender, detail)


def on_change_closed(session: Session, event: events.ChangeClosed) -> None:
    detail = f"closed by {event.sender.name}"
    _tell_author(session, event.change, event.sender, "state_change", detail)
    _tell_watchers(session, event.change, event.sender, detail)


def on_ci_run_finished(session: Session, event: events.CiRunFinished) -> None:
    run = event.run
    if run.change_id is None or run.state not in FAILED_RUNS:
        return
    change = session.get(Change, run.change_id)
    if change is None or change.state != "open":
        return
    detail = f"CI {run.state.replace('_', ' ')} on {run.sha[:12]}"
    notify(session, change.author_id, change, "ci_activity", detail)


def on_merge_queue_changed(session: Session, event: events.MergeQueueChanged) -> None:
    if event.action not in ("ejected", "removed"):
        return
    reason = event.entry.reason or event.action
    detail = f"left the merge queue: {reason}"
    _tell_author(session, event.change, event.sender, "state_change", detail)


SUBSCRIPTIONS = {
    events.ChangeOpened: on_change_opened,
    events.ChangeCommented: on_change_commented,
    events.ReviewSubmitted: on_review_submitted,
    events.VoteCast: on_vote_cast,
    events.ChangeMerged: on_change_merged,
    events.ChangeClosed: on_change_closed,
    events.CiRunFinished: on_ci_run_finished,
    events.MergeQueueChanged: on_merge_queue_changed,
}


# --- mail -----------------------------------------------------------------------------------------

WHY = {
    "author": "you opened this change",
    "state_change": "you opened this change",
    "ci_activity": "you opened this change",
    "mention": "you were mentioned",
    "review_requested": "you were asked to review",
    "cc": "you were CC'd",
    "needs_rebase": "you opened this change",
    "subscribed": "you watch {repo}",
}


def mail(session: Session, smtp, notification_id: int, base_url: str) -> bool:
    """Mail one inbox entry to its user, if the site sends mail (`smtp`), the entry is still
    unread and the address still verified; True if a mail was queued. With no SMTP nothing
    is queued: notification mail is not for the admin's page of unsent mail."""
    row = session.get(Notification, notification_id)
    if smtp is None or row is None or row.read:
        return False
    user, about = session.get(User, row.user_id), row.change or row.issue
    if user is None or not user.email or not user.email_verified:
        return False
    repo = about.repository
    kind = "pull" if row.change is not None else "issues"  # an issue's news: forge.issues.inbox
    link = f"{base_url}/{repo.full_name}/{kind}/{about.number}"
    why = WHY.get(row.reason, "you take part in it").format(repo=repo.full_name)
    body = (
        f"{row.detail}.\n\n"
        f"{about.title} (#{about.number})\n{link}\n\n"
        f"-- \nYou get this because {why}. Your inbox: {base_url}/notifications\n"
        f"To hear of every change in {repo.full_name}, or of none, use the Watch menu on "
        f"{base_url}/{repo.full_name}\n"
    )
    subject = f"[{repo.full_name}] {about.title} (#{about.number})"
    queue_mail(session, smtp, user.email, subject, body)
    return True
