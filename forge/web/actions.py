"""CI runs in the browser: a repository's runs, one run with its jobs and live logs, and the
Approve, Cancel and Re-run buttons.

URLs follow GitHub's: /OWNER/REPO/actions and /OWNER/REPO/actions/runs/ID (the commit
statuses' `target_url`). While a run is not finished, static/actions.js polls
.../runs/ID/live once a second with each job's log offset and appends what was written since,
so the log grows without a reload; without JavaScript the page shows the log so far.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts.permissions import can
from forge.ci import execution as ci_execution
from forge.ci import results as ci_results
from forge.ci import runs as ci_service
from forge.errors import Invalid
from forge.models.ci import FINISHED, PENDING
from forge.repos import repositories as repo_service
from forge.web.browse import links_for
from forge.web.context import db, settings, viewer
from forge.web.forms import PostForm

bp = Blueprint("actions", __name__)

PER_PAGE = 25
STATE_LABELS = {
    "waiting": "Waiting for approval",
    "queued": "Queued",
    "running": "Running",
    "passed": "Passed",
    "failed": "Failed",
    "errored": "Errored",
    "cancelled": "Cancelled",
    "timed_out": "Timed out",
}
EVENT_LABELS = {"push": "push", "change": "change request"}
UNSANDBOXED_NOTE = (
    "This job ran without a sandbox: bubblewrap (bwrap) is not installed on its worker and "
    "the admin set FORGE_CI_UNSANDBOXED=1, so it could see the machine as forge's user does."
)


@bp.app_template_filter()
def ci_duration(seconds: int | None) -> str:
    """'1m 05s' for a number of seconds; '' when there is none (never started)."""
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@bp.app_template_global()
def ci_state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def _repo(owner: str, name: str):
    return repo_service.get_repository(db(), owner, name, viewer())


def _run(owner: str, name: str, run_id: int):
    repo = _repo(owner, name)
    return repo, ci_service.get_run(db(), repo, run_id)


def _run_url(run) -> str:
    repo = run.repository
    return url_for(".run", owner=repo.owner.name, name=repo.name, run_id=run.id)


def _page_number() -> int:
    page = request.args.get("page", 1, type=int)
    return page if 1 <= page <= 1_000_000 else 1


@bp.route("/<owner>/<name>/actions")
def runs(owner: str, name: str):
    repo = _repo(owner, name)
    page = _page_number()
    listed = ci_service.list_runs(db(), repo, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    total = ci_service.count_runs(db(), repo)
    return render_template(
        "actions_runs.html",
        repo=repo,
        tab="actions",
        links=links_for(repo),
        can_admin=can(db(), viewer(), "admin", repo),
        runs=listed,
        changes=ci_service.changes_of(db(), listed),
        page=page,
        has_next=page * PER_PAGE < total,
        total=total,
        started_at=ci_service.started_at,
        finished_at=ci_service.finished_at,
        seconds_between=ci_service.seconds_between,
        event_labels=EVENT_LABELS,
    )


@bp.route("/<owner>/<name>/actions/runs/<int:run_id>")
def run(owner: str, name: str, run_id: int):
    repo, found = _run(owner, name, run_id)
    logs = {}
    for job in found.jobs:
        # The whole log: it is capped (FORGE_CI_LOG_LIMIT) when written, plus forge's notes.
        logs[job.id] = ci_results.read_log_text(
            settings().logs_dir, job, 0, settings().ci.log_limit + 4096
        )
    return render_template(
        "actions_run.html",
        repo=repo,
        tab="actions",
        links=links_for(repo),
        can_admin=can(db(), viewer(), "admin", repo),
        run=found,
        change=ci_service.changes_of(db(), [found]).get(found.change_id),
        logs=logs,
        actions=ci_service.allowed_actions(db(), viewer(), found),
        post_form=PostForm(),
        finished=found.state in FINISHED,
        durations={
            job.id: ci_service.seconds_between(job.started_at, job.finished_at)
            for job in found.jobs
        },
        run_seconds=ci_service.seconds_between(
            ci_service.started_at(found), ci_service.finished_at(found)
        ),
        notes={job.id: _job_note(job) for job in found.jobs},
        no_sandbox=ci_execution.NO_SANDBOX,
        pending=PENDING,
        event_labels=EVENT_LABELS,
    )


def _job_note(job) -> str:
    if job.started_at is not None and not job.sandboxed and job.state not in PENDING:
        return UNSANDBOXED_NOTE
    return ""


@bp.route("/<owner>/<name>/actions/runs/<int:run_id>/live")
def live(owner: str, name: str, run_id: int):
    """The run's state and each job's log from the offsets asked for (`offsets=ID:N,...`)."""
    _repo_, found = _run(owner, name, run_id)
    offsets = {}
    for item in request.args.get("offsets", "").split(","):
        job_id, _, offset = item.partition(":")
        if job_id.isdigit() and offset.isdigit():
            offsets[int(job_id)] = int(offset)
    jobs = []
    for job in found.jobs:
        text, offset = ci_results.read_log_text(settings().logs_dir, job, offsets.get(job.id, 0))
        jobs.append(
            {
                "id": job.id,
                "state": job.state,
                "label": ci_state_label(job.state),
                "reason": job.reason,
                "note": _job_note(job),
                "duration": ci_duration(
                    ci_service.seconds_between(job.started_at, job.finished_at)
                ),
                "text": text,
                "offset": offset,
            }
        )
    body = {
        "state": found.state,
        "label": ci_state_label(found.state),
        "finished": found.state in FINISHED,
        "attempt": found.attempt,
        "actions": sorted(ci_service.allowed_actions(db(), viewer(), found)),
        "jobs": jobs,
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<owner>/<name>/actions/runs/<int:run_id>/jobs/<int:job_id>/log")
def job_log(owner: str, name: str, run_id: int, job_id: int):
    """A job's whole log as plain text (the page's "Raw log" link)."""
    repo, found = _run(owner, name, run_id)
    job = ci_service.get_job(db(), repo, job_id)
    if job.run_id != found.id:
        abort(404)
    data = ci_results.read_log(settings().logs_dir, job, 0, settings().ci.log_limit + 4096)
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    return data, 200, headers


@bp.route(
    "/<owner>/<name>/actions/runs/<int:run_id>/<any(approve, cancel, rerun):action>",
    methods=["POST"],
)
@login_required
def act(owner: str, name: str, run_id: int, action: str):
    _repo_, found = _run(owner, name, run_id)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    do = {"approve": ci_service.approve, "cancel": ci_service.cancel, "rerun": ci_service.rerun}
    try:
        do[action](db(), viewer(), found)
    except Invalid as exc:
        db().rollback()
        flash(exc.message, "error")
        return redirect(_run_url(found))
    done = {
        "approve": "Approved: the jobs are queued.",
        "cancel": "The run was cancelled.",
        "rerun": f"Re-running (attempt {found.attempt}).",
    }
    flash(done[action], "success")
    return redirect(_run_url(found))
