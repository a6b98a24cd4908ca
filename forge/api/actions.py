"""CI runs in GitHub's Actions shapes: /repos/{o}/{r}/actions/runs[/{id}[/jobs|/logs|/rerun|
/cancel]] and /repos/{o}/{r}/actions/jobs/{id}[/logs].

forge has one "workflow" per repository, its `.forge/ci.yml`, so every run is named "CI".
The run list filters by `branch`, `event` (push, pull_request), `status` (a status such as
queued or in_progress, or a conclusion such as success or failure, as GitHub accepts),
`head_sha` and `actor`. Logs: GitHub answers `.../runs/{id}/logs` with a redirect to a zip
archive; forge serves that zip itself (one `N_JOB.txt` per job, N counting from 1), and
`.../jobs/{id}/logs` as plain text. Reading needs read access (a token without the `repo`
scope sees public repositories only); re-running and cancelling need the `repo` scope and
write access.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from flask import jsonify, request

from forge.accounts import users as accounts
from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import actions as action_shapes
from forge.ci import results as ci_results
from forge.ci import runs as ci_service
from forge.errors import Invalid
from forge.models.ci import FINISHED
from forge.repos.repositories import get_repository
from forge.web.context import db, settings

# GitHub's `status` filter -> forge's run states. It takes statuses and conclusions alike;
# neutral, skipped and stale never happen in forge, so they match nothing.
STATUS_FILTER = {
    "queued": ("queued",),
    "in_progress": ("running",),
    "waiting": ("waiting",),
    "pending": ("waiting",),
    "requested": ("waiting",),
    "action_required": ("waiting",),
    "completed": FINISHED,
    "success": ("passed",),
    "failure": ("failed", "errored"),
    "cancelled": ("cancelled",),
    "timed_out": ("timed_out",),
    "neutral": (),
    "skipped": (),
    "stale": (),
}
EVENT_FILTER = {"push": "push", "pull_request": "change", "merge_group": "merge_queue"}


class _RunPages(Sequence):
    """The filtered runs as a sequence `paginate` can slice: one query per page, not all."""

    def __init__(self, repo, where: ci_service.RunFilter):
        self.repo, self.where = repo, where
        self.total = ci_service.count_runs(db(), repo, where)

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("runs are read a page at a time")
        start, stop, _step = index.indices(self.total)
        limit = max(0, stop - start)
        return ci_service.list_runs(db(), self.repo, limit=limit, offset=start, where=self.where)


def _run_json(run, changes: dict | None = None) -> dict:
    if changes is None:
        changes = ci_service.changes_of(db(), [run])
    return action_shapes.workflow_run(run, changes.get(run.change_id), ci_service.started_at(run))


def _filter() -> ci_service.RunFilter:
    args = request.args
    where = ci_service.RunFilter(ref=args.get("branch") or None, sha=args.get("head_sha") or None)
    if args.get("event"):
        # An event forge never runs for (schedule, workflow_dispatch, ...) matches no run.
        where.event = EVENT_FILTER.get(args["event"], "-")
    if args.get("status"):
        if args["status"] not in STATUS_FILTER:
            raise ApiError(422, f"status must be one of {', '.join(STATUS_FILTER)}")
        where.states = STATUS_FILTER[args["status"]]
    if args.get("actor"):
        actor = accounts.find_user(db(), args["actor"])
        where.actor_id = actor.id if actor is not None else -1
    return where


@api.get("/repos/<owner>/<name>/actions/runs")
def list_runs(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    pages = _RunPages(repo, _filter())
    runs, headers = paginate(pages, lambda run: run)
    changes = ci_service.changes_of(db(), runs)
    body = {"total_count": len(pages), "workflow_runs": [_run_json(r, changes) for r in runs]}
    return jsonify(body), 200, headers


def _run(owner: str, name: str, run_id: int):
    repo = get_repository(db(), owner, name, repo_viewer())
    return ci_service.get_run(db(), repo, run_id)


@api.get("/repos/<owner>/<name>/actions/runs/<int:run_id>")
def get_run(owner: str, name: str, run_id: int):
    return jsonify(_run_json(_run(owner, name, run_id)))


@api.get("/repos/<owner>/<name>/actions/runs/<int:run_id>/jobs")
def list_jobs(owner: str, name: str, run_id: int):
    run = _run(owner, name, run_id)
    jobs, headers = paginate(run.jobs, action_shapes.workflow_job)
    return jsonify({"total_count": len(run.jobs), "jobs": jobs}), 200, headers


@api.get("/repos/<owner>/<name>/actions/jobs/<int:job_id>")
def get_job(owner: str, name: str, job_id: int):
    repo = get_repository(db(), owner, name, repo_viewer())
    return jsonify(action_shapes.workflow_job(ci_service.get_job(db(), repo, job_id)))


def _log(job) -> bytes:
    return ci_results.read_log(settings().logs_dir, job, 0, settings().ci.log_limit + 4096)


@api.get("/repos/<owner>/<name>/actions/jobs/<int:job_id>/logs")
def job_logs(owner: str, name: str, job_id: int):
    repo = get_repository(db(), owner, name, repo_viewer())
    job = ci_service.get_job(db(), repo, job_id)
    return _log(job), 200, {"Content-Type": "text/plain; charset=utf-8"}


@api.get("/repos/<owner>/<name>/actions/runs/<int:run_id>/logs")
def run_logs(owner: str, name: str, run_id: int):
    run = _run(owner, name, run_id)
    if not run.jobs:
        raise ApiError(404, "Not Found")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for number, job in enumerate(run.jobs, start=1):
            zipped.writestr(f"{number}_{job.name}.txt", _log(job))
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": (f'attachment; filename="logs_{run.id}_{run.attempt}.zip"'),
    }
    return archive.getvalue(), 200, headers


@api.post("/repos/<owner>/<name>/actions/runs/<int:run_id>/rerun")
def rerun(owner: str, name: str, run_id: int):
    user = require_scope("repo")
    run = _run(owner, name, run_id)
    try:
        ci_service.rerun(db(), user, run)
    except Invalid as exc:
        # The service checked the permission first; what is left is the run's state.
        status = 409 if run.jobs and run.state not in FINISHED else 422
        raise ApiError(status, exc.message) from None
    return jsonify({}), 201


@api.post("/repos/<owner>/<name>/actions/runs/<int:run_id>/cancel")
def cancel(owner: str, name: str, run_id: int):
    user = require_scope("repo")
    run = _run(owner, name, run_id)
    try:
        ci_service.cancel(db(), user, run)
    except Invalid:
        raise ApiError(409, "Cannot cancel a workflow run that is completed.") from None
    return jsonify({}), 202
