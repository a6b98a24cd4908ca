"""Crowdsourced triage in the browser: the triage panel on an issue's page (state, weighted
confirmations against the threshold, "I can reproduce this" / "cannot reproduce" with a note,
a triager's Confirm and duplicate marking, the repro run with a link to its log) and the triage
queues, /triage (across forge) and /OWNER/REPO/triage, with claims. Every form posts its CSRF
token; forge.issues.triage decides who may do what."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.errors import Conflict, Invalid
from forge.issues import repro, tracker, triage, triage_queue
from forge.repos import repositories as repo_service
from forge.web.browse import render_repo_page
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("triage", __name__)
PER_PAGE = 30


@bp.app_template_global()
def triage_panel(issue) -> dict:
    """What the issue page's triage panel shows to the viewer."""
    session, me = db(), viewer()
    return {
        "summary": triage.summary_of(session, issue, me),
        "run": repro.latest_run(session, issue),
        "verdict": repro.verdict,
        "has_script": repro.repro_script(issue.body) is not None,
        "may_decide": triage.may_decide(session, me, issue),
        "may_run": me is not None
        and (me.id == issue.author_id or triage.may_decide(session, me, issue)),
        "claim": triage_queue.claim_of(session, issue),
    }


def _issue(owner: str, name: str, number: int):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    return tracker.get_issue(db(), repo, viewer(), number)


def _issue_url(issue) -> str:
    repo = issue.repository
    return url_for("issues.show", owner=repo.owner.name, name=repo.name, number=issue.number)


def _back(fallback: str) -> str:
    """Back to the page the form was on (only a path on this site)."""
    wanted = request.form.get("next", "")
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return fallback


ACTIONS = "confirmation|withdraw|confirm|duplicate|repro|claim|release"


@bp.route(
    "/<owner>/<name>/issues/<int:number>/triage/<any(" + ACTIONS.replace("|", ", ") + "):action>",
    methods=["POST"],
)
@login_required
def act(owner: str, name: str, number: int, action: str):
    issue = _issue(owner, name, number)
    session, me = db(), viewer()
    back = _back(_issue_url(issue) + "#triage")
    try:
        if not PostForm().validate_on_submit():
            raise Invalid("the form expired; reload the page and try again")
        message = _do(session, me, issue, action)
    except (Invalid, Conflict) as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    session.commit()
    flash(message, "success")
    if action == "duplicate":
        return redirect(_issue_url(issue.duplicate_of) + "#triage")
    return redirect(back)


def _do(session, me, issue, action: str) -> str:
    if action == "confirmation":
        reproducible = request.form.get("reproducible") == "yes"
        triage.confirm(session, issue, me, reproducible, request.form.get("environment", ""))
        return "Thanks: " + (
            "you can reproduce it." if reproducible else "you cannot reproduce it."
        )
    if action == "withdraw":
        triage.withdraw(session, issue, me)
        return "Your confirmation was taken back."
    if action == "confirm":
        triage.confirm_now(session, issue, me)
        return f"#{issue.number} is confirmed."
    if action == "duplicate":
        wanted = (request.form.get("original") or "").strip().lstrip("#")
        if not wanted.isdigit():
            raise Invalid("say which issue this duplicates, as #N")
        original = tracker.get_issue(session, issue.repository, me, int(wanted))
        triage.mark_duplicate(session, issue, original, me)
        return f"#{issue.number} was closed as a duplicate of #{original.number}."
    if action == "repro":
        run = repro.run_again(session, issue, me)
        return f"The repro runs again on {run.sha[:7]}."
    if action == "claim":
        held = triage_queue.claim(session, me, issue, max_claims=settings().max_claims)
        return f"You claimed #{issue.number} for triage until {held.expires_at:%H:%M} UTC."
    triage_queue.release(session, me, issue)
    return f"You released #{issue.number}."


def _queue_values(repo=None) -> dict:
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    found = triage_queue.triage_queue(
        db(), viewer(), repository=repo, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return {"queue": found, "page": page, "post": PostForm()}


@bp.route("/triage")
@login_required
def queue():
    return render_template("triage_queue.html", repo=None, **_queue_values())


@bp.route("/<owner>/<name>/triage")
@login_required
def repository_queue(owner: str, name: str):
    repo = repo_service.get_repository(db(), owner, name, viewer())
    return render_repo_page("triage_queue.html", repo, "issues", **_queue_values(repo))
