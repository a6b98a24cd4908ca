"""A change's relation chain on its page (the changes it depends on and those depending on
it), and the Rebase button of a change whose parent got a new patch set."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import login_required

from forge.accounts.permissions import can
from forge.errors import Forbidden, Invalid
from forge.repos import repositories as repo_service
from forge.review import chains
from forge.review import changes as change_service
from forge.review.gerrit_query import may_see
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("change_chains", __name__)


def chain_panel(change) -> dict:
    """What _change_chain.html shows: the chain, top first, and whether the viewer may rebase."""
    user = viewer()
    links = [
        link for link in chains.relation_chain(db(), change) if may_see(db(), user, link.change)
    ]
    may_rebase = user is not None and (
        user.id == change.author_id or can(db(), user, "write", change.repository)
    )
    return {
        "chain": links,
        "needs_rebase": chains.needs_rebase(change),
        "may_rebase": may_rebase and change.state == "open",
        "rebase_form": PostForm(prefix="rebase"),
    }


@bp.route("/<owner>/<name>/pull/<int:number>/rebase", methods=["POST"])
@login_required
def rebase(owner: str, name: str, number: int):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    change = change_service.get_change(db(), repo, number)
    if not may_see(db(), viewer(), change):
        abort(404)
    if not PostForm(prefix="rebase").validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    here = url_for("changes.show", owner=repo.owner.name, name=repo.name, number=number)
    try:
        patch_set = chains.rebase_change(db(), settings().repos_dir, viewer(), change)
    except (Invalid, Forbidden) as exc:
        flash(exc.message, "error")
        return redirect(here + "#chain")
    flash(f"Rebased: patch set {patch_set.number} of change #{number}.", "success")
    return redirect(here + "#chain")
