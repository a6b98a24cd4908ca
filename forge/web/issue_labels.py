"""A repository's labels and milestones pages: everyone who may read sees them (with counts
of the issues they hold); writers make, edit and delete them. Every form carries its CSRF
token."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import login_required

from forge.accounts.permissions import can
from forge.errors import Invalid
from forge.issues import catalog
from forge.models import Issue
from forge.repos.repositories import get_repository
from forge.web.browse import render_repo_page
from forge.web.context import db, viewer
from forge.web.forms import PostForm

bp = Blueprint("issue_labels", __name__)


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, viewer())


def _checked() -> None:
    if not PostForm().validate_on_submit():
        raise Invalid("the form expired; reload the page and try again")


def _page(template: str, repo, **values):
    can_write = can(db(), viewer(), "write", repo)
    return render_repo_page(template, repo, "issues", can_write=can_write, post=PostForm(),
                            **values)  # fmt: skip


def _write(owner: str, name: str, action, page: str):
    """Run a writer's `action(session, repo, user)`; a refusal is flashed, nothing changed."""
    _checked()
    repo = _repo(owner, name)
    try:
        action(db(), repo, viewer())
    except Invalid as exc:
        db().rollback()
        flash(exc.message)
    else:
        db().commit()
    return redirect(url_for(page, owner=owner, name=name))


def _open_counts(label_ids: list[int]) -> dict[int, int]:
    from sqlalchemy import func, select

    from forge.models.issues import issue_label_links

    if not label_ids:
        return {}
    rows = db().execute(
        select(issue_label_links.c.label_id, func.count())
        .join(Issue, Issue.id == issue_label_links.c.issue_id)
        .where(issue_label_links.c.label_id.in_(label_ids), Issue.state == "open")
        .group_by(issue_label_links.c.label_id)
    )
    return dict(rows.all())


@bp.route("/<owner>/<name>/labels.css")
def label_colours(owner: str, name: str):
    """The colours of the repository's labels as classes (`lc-RRGGBB`): the pages' Content
    Security Policy refuses inline styles, so a label's colour comes from this stylesheet."""
    from flask import Response
    from sqlalchemy import select

    from forge.models import IssueEvent, IssueLabel

    repo = _repo(owner, name)
    colours = set(db().scalars(select(IssueLabel.color).where(IssueLabel.repository_id == repo.id)))
    colours |= set(
        db().scalars(
            select(IssueEvent.label_color)
            .join(Issue, Issue.id == IssueEvent.issue_id)
            .where(Issue.repository_id == repo.id, IssueEvent.label_color.is_not(None))
        )
    )
    rules = []
    for colour in sorted(c for c in colours if catalog.is_colour(c)):
        red, green, blue = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
        ink = "#111" if (red * 299 + green * 587 + blue * 114) / 1000 > 140 else "#fff"
        rules.append(f".lc-{colour} {{ background: #{colour}; color: {ink}; }}")
    response = Response("\n".join(rules) + "\n", mimetype="text/css")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/<owner>/<name>/labels")
def labels(owner: str, name: str):
    repo = _repo(owner, name)
    found = catalog.labels_of(db(), repo, viewer())
    return _page("repo_labels.html", repo, labels=found,
                 open_counts=_open_counts([lb.id for lb in found]))  # fmt: skip


@bp.route("/<owner>/<name>/labels", methods=["POST"])
@login_required
def create_label(owner: str, name: str):
    form = request.form
    return _write(owner, name, lambda s, r, u: catalog.create_label(
        s, r, u, name=form.get("name"), color=form.get("color") or "ededed",
        description=form.get("description")), ".labels")  # fmt: skip


@bp.route("/<owner>/<name>/labels/defaults", methods=["POST"])
@login_required
def default_labels(owner: str, name: str):
    return _write(owner, name, catalog.add_default_labels, ".labels")


@bp.route("/<owner>/<name>/labels/<int:label_id>/edit", methods=["POST"])
@login_required
def edit_label(owner: str, name: str, label_id: int):
    form = request.form

    def act(session, repo, user):
        label = _label(session, repo, user, label_id)
        catalog.update_label(
            session,
            repo,
            user,
            label,
            name=form.get("name"),
            color=form.get("color"),
            description=form.get("description"),
        )

    return _write(owner, name, act, ".labels")


@bp.route("/<owner>/<name>/labels/<int:label_id>/delete", methods=["POST"])
@login_required
def delete_label(owner: str, name: str, label_id: int):
    return _write(owner, name, lambda s, r, u: catalog.delete_label(
        s, r, u, _label(s, r, u, label_id)), ".labels")  # fmt: skip


def _label(session, repo, user, label_id: int):
    found = next((lb for lb in catalog.labels_of(session, repo, user) if lb.id == label_id), None)
    if found is None:
        raise Invalid("no such label")
    return found


@bp.route("/<owner>/<name>/milestones")
def milestones(owner: str, name: str):
    repo = _repo(owner, name)
    state = "closed" if request.args.get("state") == "closed" else "open"
    found = catalog.milestones_of(db(), repo, viewer(), state)
    counts = {m.id: catalog.issue_counts(db(), m) for m in found}
    return _page("repo_milestones.html", repo, milestones=found, counts=counts, state=state)


@bp.route("/<owner>/<name>/milestone/<int:number>")
def milestone(owner: str, name: str, number: int):
    """GitHub's html_url of a milestone: its issues."""
    catalog.get_milestone(db(), _repo(owner, name), viewer(), number)
    return redirect(url_for("issues.index", owner=owner, name=name, milestone=number,
                            state=request.args.get("state", "open")))  # fmt: skip


def _due(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise Invalid("the due date must be a date such as 2027-01-31") from None


@bp.route("/<owner>/<name>/milestones", methods=["POST"])
@login_required
def create_milestone(owner: str, name: str):
    form = request.form
    return _write(owner, name, lambda s, r, u: catalog.create_milestone(
        s, r, u, title=form.get("title"), description=form.get("description"),
        due_on=_due(form.get("due_on"))), ".milestones")  # fmt: skip


@bp.route("/<owner>/<name>/milestones/<int:number>/state", methods=["POST"])
@login_required
def milestone_state(owner: str, name: str, number: int):
    wanted = "closed" if request.form.get("state") == "closed" else "open"
    return _write(owner, name, lambda s, r, u: catalog.update_milestone(
        s, r, u, catalog.get_milestone(s, r, u, number), state=wanted), ".milestones")  # fmt: skip


@bp.route("/<owner>/<name>/milestones/<int:number>/delete", methods=["POST"])
@login_required
def delete_milestone(owner: str, name: str, number: int):
    return _write(owner, name, lambda s, r, u: catalog.delete_milestone(
        s, r, u, catalog.get_milestone(s, r, u, number)), ".milestones")  # fmt: skip
