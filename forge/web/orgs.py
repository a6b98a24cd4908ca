"""Organization pages: create one, its profile (/NAME, shown by forge.web.users), its people
and teams, a team's members and repositories, and its settings. Views parse and render;
forge.accounts.orgs decides who may do what."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required

from forge.accounts import orgs as org_service
from forge.errors import Forbidden, Invalid
from forge.repos import repositories as repo_service
from forge.web.context import db, viewer
from forge.web.org_forms import (
    DeleteTeamForm,
    MemberForm,
    NewOrganizationForm,
    NewTeamForm,
    OrganizationSettingsForm,
    RemoveMemberForm,
    RemoveTeamRepositoryForm,
    TeamMemberForm,
    TeamRepositoryForm,
)

bp = Blueprint("orgs", __name__)


def _refuse(form, field: str | None, exc) -> None:
    """Undo what the refused request wrote and show the reason beside its field."""
    db().rollback()
    target = getattr(form, field or "", None) or next(iter(form))
    target.errors = [*target.errors, exc.message]


@bp.route("/organizations/new", methods=["GET", "POST"])
@login_required
def new():
    form = NewOrganizationForm()
    status = 200
    if form.validate_on_submit():
        try:
            org = org_service.create_org(
                db(),
                viewer(),
                form.login.data.strip(),
                display_name=form.display_name.data,
                description=form.description.data,
            )
        except Invalid as exc:
            _refuse(form, "login" if exc.field in ("name", "login") else exc.field, exc)
            status = 400
        else:
            db().commit()
            flash(f"Organization {org.name} created: you are its owner.", "success")
            return redirect(url_for("users.profile", username=org.name))
    elif form.is_submitted():
        status = 400
    return render_template("org_new.html", form=form), status


def _context(org) -> dict:
    """What every organization page's header needs to know about the viewer."""
    user = viewer()
    return {
        "org": org,
        "org_settings": org_service.org_settings(db(), org),
        "is_member": org_service.is_member(db(), user, org),
        "is_owner": org_service.is_owner(db(), user, org),
        "may_create": org_service.may_create_repository(db(), user, org),
    }


def profile(org):
    """/NAME for an organization: its repositories the viewer may see, and its people to its
    members (forge has no public memberships)."""
    context = _context(org)
    repos = repo_service.visible_repositories(db(), viewer(), owner=org)
    members = org_service.members(db(), org) if context["is_member"] else []
    return render_template("org.html", repos=repos, members=members, tab="repositories", **context)


def _org_for_members(name: str):
    org = org_service.get_org(db(), name)
    if not org_service.is_member(db(), viewer(), org):
        abort(404)  # an organization's people and teams are its members' to see
    return org


def _people_page(org, status=200, **forms):
    forms.setdefault("member_form", MemberForm(prefix="member"))
    return render_template(
        "org_people.html",
        members=org_service.members(db(), org),
        remove_form=RemoveMemberForm(prefix="remove"),
        tab="people",
        **forms,
        **_context(org),
    ), status


@bp.route("/orgs/<name>/people")
@login_required
def people(name: str):
    return _people_page(_org_for_members(name))


@bp.route("/orgs/<name>/people", methods=["POST"])
@login_required
def add_member(name: str):
    org = _org_for_members(name)
    form = MemberForm(prefix="member")
    if not form.validate_on_submit():
        return _people_page(org, 400, member_form=form)
    try:
        org_service.set_membership(db(), viewer(), org, form.username.data.strip(), form.role.data)
    except Invalid as exc:
        _refuse(form, "role" if exc.field == "role" else "username", exc)
        return _people_page(org_service.get_org(db(), name), 400, member_form=form)
    db().commit()
    flash(
        f"{form.username.data.strip()} is a {dict(form.role.choices)[form.role.data]}.", "success"
    )
    return redirect(url_for(".people", name=org.name))


@bp.route("/orgs/<name>/people/remove", methods=["POST"])
@login_required
def remove_member(name: str):
    org = _org_for_members(name)
    form = RemoveMemberForm(prefix="remove")
    if not form.validate_on_submit():
        abort(400)
    try:
        org_service.remove_member(db(), viewer(), org, form.username.data)
    except Invalid as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(url_for(".people", name=name))
    db().commit()
    flash(f"{form.username.data} is no longer a member of {org.name}.", "success")
    if not org_service.is_member(db(), viewer(), org):
        return redirect(url_for("users.profile", username=org.name))
    return redirect(url_for(".people", name=org.name))


def _teams_page(org, status=200, form=None):
    team_list = org_service.teams(db(), org, viewer())
    return render_template(
        "org_teams.html",
        teams=team_list,
        counts=org_service.team_member_counts(db(), team_list),
        form=form or NewTeamForm(prefix="team"),
        tab="teams",
        **_context(org),
    ), status


@bp.route("/orgs/<name>/teams")
@login_required
def teams(name: str):
    return _teams_page(_org_for_members(name))


@bp.route("/orgs/<name>/teams", methods=["POST"])
@login_required
def create_team(name: str):
    org = _org_for_members(name)
    form = NewTeamForm(prefix="team")
    if not form.validate_on_submit():
        return _teams_page(org, 400, form)
    try:
        team = org_service.create_team(
            db(),
            viewer(),
            org,
            form.name.data,
            description=form.description.data,
            privacy=form.privacy.data,
        )
    except Invalid as exc:
        _refuse(form, exc.field, exc)
        return _teams_page(org_service.get_org(db(), name), 400, form)
    db().commit()
    return redirect(url_for(".team", name=org.name, slug=team.slug))


def _team_page(org, team, status=200, **forms):
    user = viewer()
    repos = repo_service.visible_repositories(db(), user, owner=org)
    forms.setdefault("member_form", TeamMemberForm(prefix="member"))
    forms.setdefault("repo_form", TeamRepositoryForm(prefix="repo"))
    forms["repo_form"].repository.choices = [(r.name, r.name) for r in repos]
    return render_template(
        "org_team.html",
        team=team,
        team_members=org_service.team_members(db(), team),
        team_repos=org_service.team_repositories(db(), team, user),
        may_manage=org_service.may_manage_team(db(), user, team),
        remove_member_form=RemoveMemberForm(prefix="remove"),
        remove_repo_form=RemoveTeamRepositoryForm(prefix="unrepo"),
        delete_form=DeleteTeamForm(prefix="delete"),
        tab="teams",
        **forms,
        **_context(org),
    ), status


def _team(name: str, slug: str):
    org = _org_for_members(name)
    return org, org_service.get_team(db(), org, slug, viewer())


@bp.route("/orgs/<name>/teams/<slug>")
@login_required
def team(name: str, slug: str):
    return _team_page(*_team(name, slug))


@bp.route("/orgs/<name>/teams/<slug>/members", methods=["POST"])
@login_required
def add_team_member(name: str, slug: str):
    org, found = _team(name, slug)
    form = TeamMemberForm(prefix="member")
    if not form.validate_on_submit():
        return _team_page(org, found, 400, member_form=form)
    try:
        org_service.set_team_membership(
            db(), viewer(), found, form.username.data.strip(), form.role.data
        )
    except Invalid as exc:
        _refuse(form, "username", exc)
        return _team_page(*_team(name, slug), 400, member_form=form)
    db().commit()
    return redirect(url_for(".team", name=name, slug=slug))


@bp.route("/orgs/<name>/teams/<slug>/members/remove", methods=["POST"])
@login_required
def remove_team_member(name: str, slug: str):
    _org, found = _team(name, slug)
    form = RemoveMemberForm(prefix="remove")
    if not form.validate_on_submit():
        abort(400)
    org_service.remove_team_membership(db(), viewer(), found, form.username.data)
    db().commit()
    return redirect(url_for(".team", name=name, slug=slug))


@bp.route("/orgs/<name>/teams/<slug>/repositories", methods=["POST"])
@login_required
def add_team_repository(name: str, slug: str):
    org, found = _team(name, slug)
    form = TeamRepositoryForm(prefix="repo")
    if not form.validate_on_submit():
        return _team_page(org, found, 400, repo_form=form)
    try:
        repo = repo_service.get_repository(db(), org.name, form.repository.data or "", viewer())
        org_service.set_team_repository(db(), viewer(), found, repo, form.role.data)
    except Invalid as exc:
        _refuse(form, "repository", exc)
        return _team_page(*_team(name, slug), 400, repo_form=form)
    db().commit()
    flash(f"{found.name} has the {form.role.data} role on {repo.full_name}.", "success")
    return redirect(url_for(".team", name=name, slug=slug))


@bp.route("/orgs/<name>/teams/<slug>/repositories/remove", methods=["POST"])
@login_required
def remove_team_repository(name: str, slug: str):
    org, found = _team(name, slug)
    form = RemoveTeamRepositoryForm(prefix="unrepo")
    if not form.validate_on_submit():
        abort(400)
    repo = repo_service.get_repository(db(), org.name, form.repository.data, viewer())
    org_service.remove_team_repository(db(), viewer(), found, repo)
    db().commit()
    return redirect(url_for(".team", name=name, slug=slug))


@bp.route("/orgs/<name>/teams/<slug>/delete", methods=["POST"])
@login_required
def delete_team(name: str, slug: str):
    _org, found = _team(name, slug)
    if not DeleteTeamForm(prefix="delete").validate_on_submit():
        abort(400)
    org_service.delete_team(db(), viewer(), found)
    db().commit()
    flash(f"Team {found.name} deleted.", "success")
    return redirect(url_for(".teams", name=name))


def _owned_org(name: str):
    org = _org_for_members(name)
    if not org_service.is_owner(db(), viewer(), org):
        raise Forbidden(f"only owners of {org.name} may change its settings")
    return org


@bp.route("/orgs/<name>/settings", methods=["GET", "POST"])
@login_required
def settings_page(name: str):
    org = _owned_org(name)
    found = org_service.org_settings(db(), org)
    form = OrganizationSettingsForm()
    if not form.is_submitted():
        form.display_name.data = org.full_name
        form.description.data = found.description
        form.default_repository_permission.data = found.default_repository_permission
        form.members_can_create_repositories.data = found.members_can_create_repositories
    status = 200
    if form.validate_on_submit():
        try:
            org_service.update_org(
                db(),
                viewer(),
                org,
                display_name=form.display_name.data,
                description=form.description.data,
                default_repository_permission=form.default_repository_permission.data,
                members_can_create_repositories=form.members_can_create_repositories.data,
            )
        except Invalid as exc:
            _refuse(form, exc.field, exc)
            status = 400
        else:
            db().commit()
            flash("Settings saved.", "success")
            return redirect(url_for(".settings_page", name=org.name))
    elif form.is_submitted():
        status = 400
    context = _context(org_service.get_org(db(), name))
    return render_template("org_settings.html", form=form, tab="settings", **context), status
