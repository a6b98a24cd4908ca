"""Repository pages: create, the repository's front page, and its settings."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts.orgs import repository_owners, teams_on_repository
from forge.accounts.permissions import can
from forge.errors import Invalid, NotFound
from forge.repos import forks as fork_service
from forge.repos import repositories as repo_service
from forge.web import external_url
from forge.web.context import db, settings, viewer
from forge.web.forms import (
    CollaboratorForm,
    DeleteRepositoryForm,
    NewRepositoryForm,
    PostForm,
    RemoveCollaboratorForm,
    RepositorySettingsForm,
)

bp = Blueprint("repos", __name__)


def clone_url(repo) -> str:
    return external_url(f"/{repo.owner.name}/{repo.name}.git")


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = NewRepositoryForm()
    owners = {owner.lower_name: owner for owner in repository_owners(db(), viewer())}
    form.owner.choices = [(owner.name, owner.name) for owner in owners.values()]
    if not form.is_submitted():
        form.owner.data = request.args.get("owner", viewer().name)
    status = 200
    if form.validate_on_submit():
        try:
            owner = owners.get((form.owner.data or viewer().name).lower())
            if owner is None:
                raise Invalid(f"you may not create repositories for {form.owner.data}", "owner")
            repo = repo_service.create_repository(
                db(),
                settings().repos_dir,
                owner,
                form.name.data.strip(),
                description=form.description.data,
                private=form.visibility.data == "private",
                default_branch=(form.default_branch.data or "main").strip(),
            )
        except Invalid as exc:
            db().rollback()
            field = getattr(form, exc.field or "name", form.name)
            field.errors = [*field.errors, exc.message]
            status = 400
        else:
            db().commit()
            return redirect(url_for(".show", owner=repo.owner.name, name=repo.name))
    elif request.method == "POST":
        status = 400
    return render_template("repo_new.html", form=form), status


@bp.route("/<owner>/<name>")
def show(owner: str, name: str):
    from forge.web.browse import home_page

    repo = repo_service.get_repository(db(), owner, name, viewer())
    return home_page(repo, clone_url(repo))


@bp.route("/<owner>/<name>/fork", methods=["GET", "POST"])
@login_required
def fork(owner: str, name: str):
    """GitHub's /fork page: what a fork is for, the viewer's fork if they have one, and the
    button that makes it (a push refused by branch protection links here: hooks/checks.py)."""
    repo = repo_service.get_repository(db(), owner, name, viewer())
    if request.method == "GET":
        existing = fork_service.fork_of_user(db(), repo, viewer())
        return render_template(
            "repo_fork.html",
            repo=repo,
            fork=existing,
            fork_url=clone_url(existing) if existing is not None else None,
            form=PostForm(),
        )
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    try:
        made, _new = fork_service.fork_repository(db(), settings().repos_dir, repo, viewer())
    except Invalid as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(url_for(".show", owner=owner, name=name))
    return redirect(url_for(".show", owner=made.owner.name, name=made.name))


def _settings_page(repo, status=200, **forms):
    forms.setdefault("form", RepositorySettingsForm(obj=repo, private=repo.is_private))
    forms.setdefault("collaborator_form", CollaboratorForm(prefix="collab"))
    forms.setdefault("delete_form", DeleteRepositoryForm(prefix="delete"))
    return render_template(
        "repo_settings.html",
        repo=repo,
        collaborators=repo_service.collaborators(db(), repo),
        teams=teams_on_repository(db(), repo),
        remove_form=RemoveCollaboratorForm(prefix="remove"),
        **forms,
    ), status


def _admin_repo(owner: str, name: str):
    user = viewer()
    repo = repo_service.get_repository(db(), owner, name, user)
    if not can(db(), user, "admin", repo):
        # Readers may know the repository exists, but its settings are not theirs to see.
        abort(403, f"You need the admin role on {repo.full_name} to change its settings.")
    return repo


def _refused(owner: str, name: str, exc, field, **forms):
    """Undo what the refused change wrote, and show the settings with the reason at `field`."""
    db().rollback()
    repo = _admin_repo(owner, name)  # read again: the rollback expired the one we had
    field.errors = [*field.errors, exc.message]
    return _settings_page(repo, 400, **forms)


@bp.route("/<owner>/<name>/settings", methods=["GET", "POST"])
@login_required
def settings_page(owner: str, name: str):
    repo = _admin_repo(owner, name)
    if request.method == "GET":
        return _settings_page(repo)
    form = RepositorySettingsForm()
    if not form.validate_on_submit():
        return _settings_page(repo, 400, form=form)
    try:
        repo_service.update_repository(
            db(),
            settings().repos_dir,
            repo,
            viewer(),
            name=form.name.data.strip(),
            description=form.description.data,
            private=form.private.data,
            default_branch=form.default_branch.data.strip(),
            require_change_id=form.require_change_id.data,
        )
    except Invalid as exc:
        field = getattr(form, exc.field or "name", form.name)
        return _refused(owner, name, exc, field, form=form)
    db().commit()
    flash("Settings saved.", "success")
    return redirect(url_for(".settings_page", owner=repo.owner.name, name=repo.name))


@bp.route("/<owner>/<name>/settings/collaborators", methods=["POST"])
@login_required
def add_collaborator(owner: str, name: str):
    repo = _admin_repo(owner, name)
    form = CollaboratorForm(prefix="collab")
    if not form.validate_on_submit():
        return _settings_page(repo, 400, collaborator_form=form)
    try:
        added = repo_service.set_collaborator(
            db(), repo, viewer(), form.username.data.strip(), form.role.data
        )
    except (Invalid, NotFound) as exc:
        return _refused(owner, name, exc, form.username, collaborator_form=form)
    verb = "added as" if added else "changed to"
    flash(f"{form.username.data.strip()} {verb} {form.role.data}.", "success")
    return redirect(url_for(".settings_page", owner=repo.owner.name, name=repo.name))


@bp.route("/<owner>/<name>/settings/collaborators/remove", methods=["POST"])
@login_required
def remove_collaborator(owner: str, name: str):
    repo = _admin_repo(owner, name)
    form = RemoveCollaboratorForm(prefix="remove")
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    repo_service.remove_collaborator(db(), repo, viewer(), form.username.data)
    flash(f"{form.username.data} removed.", "success")
    return redirect(url_for(".settings_page", owner=repo.owner.name, name=repo.name))


@bp.route("/<owner>/<name>/settings/delete", methods=["POST"])
@login_required
def delete(owner: str, name: str):
    repo = _admin_repo(owner, name)
    form = DeleteRepositoryForm(prefix="delete")
    if not form.validate_on_submit():
        return _settings_page(repo, 400, delete_form=form)
    try:
        full_name = repo.full_name
        repo_service.delete_repository(
            db(), settings().repos_dir, repo, viewer(), form.confirmation.data
        )
    except Invalid as exc:
        return _refused(owner, name, exc, form.confirmation, delete_form=form)
    db().commit()
    flash(f"{full_name} was deleted.", "success")
    return redirect(url_for("home.index"))
