"""Issue pages: a repository's Issues tab (filters: open/closed, label, milestone, assignee,
author, text), the new-issue form (templates from .forge/ISSUE_TEMPLATE, a Preview button
that renders the Markdown without JavaScript), and an issue's page: its conversation and
timeline, edits with their history, labels, assignees and milestone for triagers, closing
with a reason, locking for writers, reactions, and what refers to it.

Every form posts with its CSRF token; the domain (forge.issues) decides who may do what.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import login_required
from markupsafe import Markup

from forge.accounts.permissions import can
from forge.errors import ForgeError, Invalid
from forge.issues import catalog, metadata, reactions, references, templates, tracker
from forge.issues import inbox as issue_inbox
from forge.models import Change, IssueComment
from forge.models.issues import CLOSE_REASONS, LOCK_REASONS, REACTIONS
from forge.repos.repositories import get_repository
from forge.review import changes as change_service
from forge.web.browse import render_repo_page
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm
from forge.web.issue_markup import issue_markdown

bp = Blueprint("issues", __name__)

REACTION_EMOJI = {"+1": "👍", "-1": "👎", "laugh": "😄", "confused": "😕", "heart": "❤️",
                  "hooray": "🎉", "rocket": "🚀", "eyes": "👀"}  # fmt: skip
REASON_WORDS = {"completed": "completed", "not_planned": "not planned", "duplicate": "duplicate"}


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, viewer())


def _checked() -> None:
    """Every POST here carries the page's CSRF token."""
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired; reload the page and try again")


def _page(template: str, repo, status: int = 200, **values):
    session = db()
    html = render_repo_page(
        template,
        repo,
        "issues",
        can_write=can(session, viewer(), "write", repo),
        can_triage=can(session, viewer(), "triage", repo),
        markdown=lambda text: issue_markdown(session, repo, viewer(), text),
        post=PostForm(),
        **values,
    )
    return html, status


def _issue_url(issue, anchor: str = "") -> str:
    repo = issue.repository
    url = url_for(".show", owner=repo.owner.name, name=repo.name, number=issue.number)
    return url + anchor


# --- the list --------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/issues")
def index(owner: str, name: str):
    repo = _repo(owner, name)
    args = request.args
    state = "closed" if args.get("state") == "closed" else "open"
    filters = {
        "labels": [x for x in args.getlist("label") if x],
        "milestone": args.get("milestone") or None,
        "assignee": args.get("assignee") or None,
        "creator": args.get("author") or None,
        "text": args.get("q") or None,
    }
    session = db()
    found = tracker.issues_of(session, repo, viewer(), state=state, **filters)
    other = tracker.issues_of(
        session, repo, viewer(), state="open" if state == "closed" else "closed", **filters
    )
    counts = {state: len(found), ("open" if state == "closed" else "closed"): len(other)}
    return _page(
        "repo_issues.html",
        repo,
        issues=found,
        state=state,
        counts=counts,
        filters=filters,
        comment_counts=tracker.comment_counts(session, [i.id for i in found]),
        labels=catalog.labels_of(session, repo, viewer()),
        milestones=catalog.milestones_of(session, repo, viewer(), "all"),
        people=tracker.assignable_people(session, repo),
        reason_words=REASON_WORDS,
    )


# --- a new issue -----------------------------------------------------------------------------


@bp.route("/<owner>/<name>/issues/new", methods=["GET", "POST"])
@login_required
def new(owner: str, name: str):
    repo = _repo(owner, name)
    found = templates.templates_of(settings().repos_dir, repo)
    chosen = next((t for t in found if t.filename == request.values.get("template")), None)
    title = request.form.get("title", chosen.title if chosen else "")
    body = request.form.get("body", chosen.body if chosen else "")
    preview = None
    if request.method == "POST":
        _checked()
        if request.form.get("preview"):
            preview = issue_markdown(db(), repo, viewer(), body)
        else:
            try:
                issue = tracker.open_issue(
                    db(), repo, viewer(), title=title, body=body,
                    template_labels=chosen.labels if chosen else (),
                )  # fmt: skip
            except Invalid as exc:
                db().rollback()
                flash(exc.message)
                repo = _repo(owner, name)
            else:
                db().commit()
                return redirect(_issue_url(issue))
    pick_template = bool(found) and chosen is None and request.method == "GET"
    return _page(
        "repo_issue_new.html",
        repo,
        templates=found,
        chosen=chosen,
        pick_template=pick_template and not request.args.get("blank"),
        title=title,
        body=body,
        preview=preview,
    )


# --- one issue -------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/issues/<int:number>")
def show(owner: str, name: str, number: int):
    repo = _repo(owner, name)
    session = db()
    issue = tracker.find_issue(session, repo, number)
    if issue is None:
        change_service.get_change(session, repo, number)  # NotFound if neither
        # GitHub sends /issues/N of a pull request to the pull request.
        return redirect(url_for("changes.show", owner=owner, name=name, number=number))
    tracker.get_issue(session, repo, viewer(), number)
    me = viewer()
    items = [i for i in tracker.timeline(session, issue) if _visible_item(session, me, i)]
    return _page(
        "repo_issue.html",
        repo,
        issue=issue,
        items=items,
        edits=tracker.edits_of(session, issue),
        comment_edits={
            c.id: tracker.edits_of(session, issue, c) for c in items if isinstance(c, IssueComment)
        },
        referred_by=references.referring_to(session, me, issue=issue),
        reactions_of=lambda comment=None: reactions.reactions_of(session, issue, comment),
        reaction_emoji=REACTION_EMOJI,
        reaction_kinds=REACTIONS,
        labels=catalog.labels_of(session, repo, me),
        milestones=catalog.milestones_of(session, repo, me, "open"),
        people=tracker.assignable_people(session, repo),
        may_edit=me is not None and (me.id == issue.author_id or can(session, me, "write", repo)),
        may_close=me is not None and (me.id == issue.author_id or can(session, me, "triage", repo)),
        may_comment=me is not None and (not issue.locked or can(session, me, "write", repo)),
        subscribed=me is not None and me.id in issue_inbox.followers(session, issue),
        close_reasons=CLOSE_REASONS,
        lock_reasons=LOCK_REASONS,
        reason_words=REASON_WORDS,
        is_comment=lambda item: isinstance(item, IssueComment),
    )


def _visible_item(session, me, item) -> bool:
    """A mention from a repository the viewer cannot read is not shown (nor its title)."""
    if isinstance(item, IssueComment) or item.event not in ("cross-referenced", "referenced"):
        return True
    source = item.source_issue or item.source_change
    return source is not None and can(session, me, "read", source.repository)


def _act(owner: str, name: str, number: int, action, anchor: str = ""):
    """Run `action(session, issue, user)` for a POST, with its CSRF token checked; a refusal
    is flashed and nothing is changed."""
    _checked()
    repo = _repo(owner, name)
    issue = tracker.get_issue(db(), repo, viewer(), number)
    try:
        result = action(db(), issue, viewer())
    except Invalid as exc:
        db().rollback()
        flash(exc.message)
        return redirect(_issue_url(issue))
    db().commit()
    return redirect(_issue_url(issue, anchor if isinstance(result, str) else ""))


@bp.route("/<owner>/<name>/issues/<int:number>/comments", methods=["POST"])
@login_required
def comment(owner: str, name: str, number: int):
    body = request.form.get("body", "")
    close = request.form.get("close")

    def act(session, issue, user):
        if body.strip():
            made = tracker.add_comment(session, issue, user, body)
        if close == "close":
            tracker.close_issue(session, issue, user, request.form.get("reason") or "completed")
        elif close == "reopen":
            tracker.reopen_issue(session, issue, user)
        elif not body.strip():
            raise Invalid("a comment needs some text")
        return f"#issuecomment-{made.id}" if body.strip() else None

    return _act(owner, name, number, act)


@bp.route("/<owner>/<name>/issues/<int:number>/edit", methods=["POST"])
@login_required
def edit(owner: str, name: str, number: int):
    title, body = request.form.get("title"), request.form.get("body")
    return _act(owner, name, number, lambda s, i, u: tracker.edit_issue(s, i, u, title=title,
                                                                        body=body))  # fmt: skip


@bp.route("/<owner>/<name>/issues/<int:number>/comments/<int:comment_id>/edit", methods=["POST"])
@login_required
def edit_comment(owner: str, name: str, number: int, comment_id: int):
    def act(session, issue, user):
        found = tracker.get_comment(session, issue.repository, user, comment_id)
        if found.issue_id != issue.id:
            abort(404)
        tracker.edit_comment(session, found, user, request.form.get("body", ""))

    return _act(owner, name, number, act)


@bp.route("/<owner>/<name>/issues/<int:number>/state", methods=["POST"])
@login_required
def state(owner: str, name: str, number: int):
    def act(session, issue, user):
        if request.form.get("state") == "open":
            return tracker.reopen_issue(session, issue, user)
        duplicate = None
        if request.form.get("reason") == "duplicate" and request.form.get("duplicate_of"):
            wanted = request.form["duplicate_of"].lstrip("#")
            if not wanted.isdigit():
                raise Invalid("name the original as #N")
            duplicate = tracker.get_issue(session, issue.repository, user, int(wanted))
        reason = request.form.get("reason") or "completed"
        return tracker.close_issue(session, issue, user, reason, duplicate_of=duplicate)

    return _act(owner, name, number, act)


@bp.route("/<owner>/<name>/issues/<int:number>/lock", methods=["POST"])
@login_required
def lock(owner: str, name: str, number: int):
    def act(session, issue, user):
        if request.form.get("lock") == "unlock":
            return tracker.unlock_issue(session, issue, user)
        return tracker.lock_issue(session, issue, user, request.form.get("reason") or None)

    return _act(owner, name, number, act)


@bp.route("/<owner>/<name>/issues/<int:number>/labels", methods=["POST"])
@login_required
def set_labels(owner: str, name: str, number: int):
    names = request.form.getlist("label")
    return _act(owner, name, number,
                lambda s, i, u: metadata.set_labels(s, i, u, names, replace=True))  # fmt: skip


@bp.route("/<owner>/<name>/issues/<int:number>/assignees", methods=["POST"])
@login_required
def set_assignees(owner: str, name: str, number: int):
    logins = request.form.getlist("assignee")
    return _act(owner, name, number, lambda s, i, u: metadata.set_assignees(s, i, u, logins))


@bp.route("/<owner>/<name>/issues/<int:number>/milestone", methods=["POST"])
@login_required
def set_milestone(owner: str, name: str, number: int):
    wanted = request.form.get("milestone", "")
    chosen = int(wanted) if wanted.isdigit() else None
    return _act(owner, name, number, lambda s, i, u: metadata.set_milestone(s, i, u, chosen))


@bp.route("/<owner>/<name>/issues/<int:number>/reactions", methods=["POST"])
@login_required
def react(owner: str, name: str, number: int):
    content = request.form.get("content")
    comment_id = request.form.get("comment", type=int)

    def act(session, issue, user):
        target = None
        if comment_id:
            target = tracker.get_comment(session, issue.repository, user, comment_id)
        mine = [
            r
            for r in reactions.reactions_of(session, issue, target)
            if r.user_id == user.id and r.content == content
        ]
        if mine:  # pressing one's own reaction again takes it back, as on GitHub
            return reactions.remove_reaction(session, issue, user, mine[0].id)
        reactions.react(session, issue, user, content, target)

    return _act(owner, name, number, act)


@bp.route("/<owner>/<name>/issues/<int:number>/subscription", methods=["POST"])
@login_required
def subscription(owner: str, name: str, number: int):
    wanted = request.form.get("subscribe") == "1"
    return _act(owner, name, number,
                lambda s, i, u: issue_inbox.set_subscribed(s, i, u, wanted))  # fmt: skip


@bp.app_template_global()
def change_references(change: Change) -> dict:
    """For the change page: the issues and changes it refers to and that refer to it."""
    session = db()
    try:
        return {
            "to": references.referred_by(session, viewer(), change),
            "from": references.referring_to(session, viewer(), change=change),
        }
    except ForgeError:
        return {"to": [], "from": []}


@bp.app_template_global()
def issue_markdown_html(repo, text: str) -> Markup:
    return issue_markdown(db(), repo, viewer(), text)
