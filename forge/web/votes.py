"""Votes and the quality gate in the browser: the change page's submit requirements panel and
vote form, the repository's quality gate settings (/OWNER/REPO/settings/quality), and what a
person's vote weighs in a repository, with the vouch form (/OWNER/REPO/trust/NAME).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from forge.accounts import privileges, reputation, trust_edges
from forge.accounts.permissions import can
from forge.accounts.users import get_user
from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import labels as label_service
from forge.gate import quality_gate, tally
from forge.gate import votes as vote_service
from forge.repos import repositories as repo_service
from forge.review import changes as change_service
from forge.web.context import db, settings, viewer

bp = Blueprint("votes", __name__)


class VoteForm(FlaskForm):
    # "Label=value"; the choices are what the viewer may give, set per request.
    vote = SelectField("Vote", validators=[DataRequired()], validate_choice=False)
    message = TextAreaField("Message", validators=[Optional(), Length(max=65536)])


class GateForm(FlaskForm):
    enabled = BooleanField("Enforce the submit requirements")
    quorum = FloatField("Quorum of weighted Code-Review +1 votes", validators=[InputRequired()])
    require_verified = SelectField(
        "Require Verified +1",
        choices=[
            ("auto", "When the repository has .forge/ci.yml or a required status check"),
            ("always", "Always"),
            ("never", "Never"),
        ],
    )
    auto_submit = BooleanField("A change that becomes submittable enters the merge queue")
    community_quorum = BooleanField(
        "Community quorum: trusted +1 votes reaching the quorum pass without an approval by a "
        "triager, writer or maintainer"
    )
    triage_threshold = FloatField(
        "Threshold of weighted 'I can reproduce this' that confirm an issue",
        validators=[Optional()],  # left out: unchanged
    )


class LabelForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    min_value = IntegerField("Lowest value", validators=[InputRequired()], default=-1)
    max_value = IntegerField("Highest value", validators=[InputRequired()], default=1)
    function = SelectField("Rule", choices=[(f, f) for f in label_service.FUNCTIONS])
    copy_values = StringField("Values kept on a trivial rebase (e.g. -1,1)")
    description = StringField("Description", validators=[Length(max=1000)])


class DeleteLabelForm(FlaskForm):
    name = HiddenField(validators=[DataRequired()])


class VouchForm(FlaskForm):
    amount = FloatField("Trust to lend", validators=[InputRequired()])


class UnvouchForm(FlaskForm):
    pass


# --- the change page ------------------------------------------------------------------------


def panel(change) -> dict:
    """What the change page shows of votes: the submit requirements with met or missing, the
    votes by label, and the vote form with the values the viewer may give."""
    session = db()
    labels = label_service.labels_of(session, change.repository)
    views = tally.votes_of(session, change)
    choices = tally.voting_choices(session, viewer(), change)
    current = [f"{label.name}={mine}" for label, _values, mine in choices if mine]
    return {
        "submit": quality_gate.submit_status(session, settings().repos_dir, change, views=views),
        # Approvals as the gate counts them (a +2), not GitHub-style approving reviews.
        "approvers": [v.user for v in quality_gate.approvals_of(session, change, views)],
        "vote_groups": [(label, [v for v in views if v.label == label.name]) for label in labels],
        # Each reviewer's record: the share of their settled votes that agreed with outcomes.
        "accuracy": reputation.accuracy_of(session, [v.user_id for v in views if v.user_id]),
        # Only maintainers know (and set) whether a change is an audit.
        "audit": reputation.audit_of(session, viewer(), change),
        "may_mark_audit": change.state == "open"
        and can(session, viewer(), "maintain", change.repository),
        "vote_form": VoteForm(prefix="vote") if choices else None,
        # One <optgroup> per label; nothing is chosen for the viewer until they have voted.
        "vote_choices": [
            (label.name, [(f"{label.name}={v}", _option(label, v)) for v in values])
            for label, values, _mine in choices
        ],
        "current_vote": current[0] if current else None,
        "own_change": viewer() is not None and viewer().id == change.author_id,
        "may_bypass": quality_gate.admin_may_bypass(session, viewer(), change),
    }


def _option(label, value: int) -> str:
    shown = f"{value:+d}" if value else "0"
    return f"{label.name} {shown}: {label_service.meaning(label, value)}"


@bp.route("/<owner>/<name>/pull/<int:number>/votes", methods=["POST"])
@login_required
def vote(owner: str, name: str, number: int):
    from forge.web.changes import conversation_page, failure_status

    repo = repo_service.get_repository(db(), owner, name, viewer())
    change = change_service.get_change(db(), repo, number)
    form = VoteForm(prefix="vote")
    if not form.validate_on_submit():
        return conversation_page(repo, change, 400, "choose a vote; the form may be out of date")
    label, _, value = (form.vote.data or "").partition("=")
    try:
        number_value = int(value)
    except ValueError:
        return conversation_page(repo, change, 400, f"{form.vote.data!r} is not a vote")
    try:
        vote_service.record_vote(
            db(), viewer(), change, label, number_value, form.message.data or "", via="web"
        )
    except (Invalid, Forbidden, NotFound) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message)
    return redirect(
        url_for("changes.show", owner=repo.owner.name, name=repo.name, number=number) + "#votes"
    )


# --- the quality gate settings ------------------------------------------------------------


def _admin_repo(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    if not can(db(), viewer(), "admin", repo):
        abort(403, f"You need the admin role on {repo.full_name} to change its settings.")
    return repo


def _settings_page(repo, status: int = 200, error: str | None = None, **forms):
    gate = quality_gate.gate_of(db(), repo)
    forms.setdefault("gate_form", GateForm(prefix="gate", obj=gate))
    forms.setdefault("label_form", LabelForm(prefix="label"))
    return render_template(
        "settings_quality.html",
        repo=repo,
        gate=gate,
        labels=label_service.labels_of(db(), repo),
        built_in=label_service.BUILT_IN,
        delete_form=DeleteLabelForm(prefix="delete"),
        error=error,
        **forms,
    ), status


def _refused(owner: str, name: str, exc, **forms):
    db().rollback()
    return _settings_page(_admin_repo(owner, name), 400, exc.message, **forms)


def _back_to(repo):
    return redirect(url_for(".quality", owner=repo.owner.name, name=repo.name))


@bp.route("/<owner>/<name>/settings/quality", methods=["GET", "POST"])
@login_required
def quality(owner: str, name: str):
    repo = _admin_repo(owner, name)
    if request.method == "GET":
        return _settings_page(repo)
    form = GateForm(prefix="gate")
    if not form.validate_on_submit():
        refusal = "the quorum and the triage threshold must be numbers"
        return _settings_page(repo, 400, refusal, gate_form=form)
    try:
        quality_gate.update_gate(
            db(),
            viewer(),
            repo,
            enabled=form.enabled.data,
            quorum=form.quorum.data,
            require_verified=form.require_verified.data,
            auto_submit=form.auto_submit.data,
            community_quorum=form.community_quorum.data,
            triage_threshold=form.triage_threshold.data,
        )
    except Invalid as exc:
        return _refused(owner, name, exc, gate_form=form)
    flash("Quality gate saved.", "success")
    return _back_to(repo)


@bp.route("/<owner>/<name>/settings/quality/labels", methods=["POST"])
@login_required
def save_label(owner: str, name: str):
    repo = _admin_repo(owner, name)
    form = LabelForm(prefix="label")
    if not form.validate_on_submit():
        errors = [f"{f.label.text}: {e}" for f in form for e in f.errors]
        return _settings_page(repo, 400, "; ".join(errors) or "the form is incomplete",
                              label_form=form)  # fmt: skip
    try:
        copies = [int(v) for v in (form.copy_values.data or "").split(",") if v.strip()]
    except ValueError:
        return _settings_page(
            repo, 400, "values kept on a rebase: list whole numbers, e.g. -1,1", label_form=form
        )
    spec = label_service.LabelSpec(
        name=form.name.data.strip(),
        min_value=form.min_value.data,
        max_value=form.max_value.data,
        function=form.function.data,
        copy_values=copies,
        description=form.description.data or "",
    )
    try:
        label_service.save_label(db(), viewer(), repo, spec)
    except Invalid as exc:
        return _refused(owner, name, exc, label_form=form)
    flash(f"Label {spec.name} saved.", "success")
    return _back_to(repo)


@bp.route("/<owner>/<name>/settings/quality/labels/delete", methods=["POST"])
@login_required
def delete_label(owner: str, name: str):
    repo = _admin_repo(owner, name)
    form = DeleteLabelForm(prefix="delete")
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    try:
        label_service.delete_label(db(), viewer(), repo, form.name.data)
    except Invalid as exc:
        return _refused(owner, name, exc)
    flash(f"Label {form.name.data} removed, with its votes.", "success")
    return _back_to(repo)


# --- trust ----------------------------------------------------------------------------------


def _trust_page(repo, person, status: int = 200, error: str | None = None):
    session = db()
    me = viewer()
    mine = privileges.standing(session, me, repo) if me is not None else None
    rules = privileges.rules_of(session)
    lent_by_me = (
        trust_edges.vouches_by(session, repo, me).get(person.name) if me is not None else None
    )
    return render_template(
        "repo_trust.html",
        repo=repo,
        person=person,
        who=privileges.standing(session, person, repo),
        vouches=trust_edges.vouches_by(session, repo, person),
        may_vouch=mine is not None and mine.weight > 0 and me.id != person.id,
        lent_by_me=lent_by_me,
        max_vouch=rules.max_vouch,
        rules=rules,
        vouch_form=VouchForm(prefix="vouch", amount=lent_by_me or rules.max_vouch),
        unvouch_form=UnvouchForm(prefix="unvouch"),
        error=error,
    ), status


@bp.route("/<owner>/<name>/trust/<username>")
def trust_page(owner: str, name: str, username: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    return _trust_page(repo, get_user(db(), username))


@bp.route("/<owner>/<name>/trust/<username>/vouch", methods=["POST"])
@login_required
def vouch(owner: str, name: str, username: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    person = get_user(db(), username)
    form = VouchForm(prefix="vouch")
    if not form.validate_on_submit():
        return _trust_page(repo, person, 400, "the amount must be a number")
    try:
        trust_edges.vouch(db(), viewer(), repo, person, form.amount.data, privileges.rules_of(db()))
    except (Invalid, Forbidden) as exc:
        db().rollback()
        return _trust_page(repo, person, 403 if isinstance(exc, Forbidden) else 400, exc.message)
    flash(f"You vouch for {person.name} in {repo.full_name}.", "success")
    return redirect(url_for(".trust_page", owner=owner, name=name, username=person.name))


@bp.route("/<owner>/<name>/trust/<username>/unvouch", methods=["POST"])
@login_required
def unvouch(owner: str, name: str, username: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    person = get_user(db(), username)
    if not UnvouchForm(prefix="unvouch").validate_on_submit():
        return _trust_page(repo, person, 400, "the form is out of date; try again")
    trust_edges.unvouch(db(), viewer(), repo, person)
    flash(f"You no longer vouch for {person.name} in {repo.full_name}.", "success")
    return redirect(url_for(".trust_page", owner=owner, name=name, username=person.name))
