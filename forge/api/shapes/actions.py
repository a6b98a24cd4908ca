"""CI runs and their jobs in GitHub's Actions shapes (workflow runs and workflow jobs), with
forge's run and job states mapped to GitHub's `status` and `conclusion`."""

from __future__ import annotations

from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.repos import repository
from forge.api.shapes.users import simple_user

# forge's run and job states -> GitHub's `status`, and for finished ones its `conclusion`.
# A run held for a maintainer's approval is "waiting" (GitHub's word for a run waiting on a
# review); an errored run that never got jobs (a malformed .forge/ci.yml) is a startup_failure.
ACTIONS_STATUS = {"waiting": "waiting", "queued": "queued", "running": "in_progress"}

ACTIONS_CONCLUSION = {
    "passed": "success",
    "failed": "failure",
    "errored": "failure",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
}

ACTIONS_EVENT = {"push": "push", "change": "pull_request", "merge_queue": "merge_group"}


def _actions_status(state: str) -> tuple[str, str | None]:
    if state in ACTIONS_STATUS:
        return ACTIONS_STATUS[state], None
    return "completed", ACTIONS_CONCLUSION.get(state, "failure")


def workflow_run(run, change=None, started_at=None) -> dict:
    repo = run.repository
    url = api_url(f"/repos/{repo.full_name}/actions/runs/{run.id}")
    status, conclusion = _actions_status(run.state)
    if run.state == "errored" and not run.jobs:
        conclusion = "startup_failure"
    pulls = []
    if change is not None:
        head_repo = change.head_repository or repo
        pulls.append(
            {
                "id": change.id,
                "number": change.number,
                "url": api_url(f"/repos/{repo.full_name}/pulls/{change.number}"),
                "head": {
                    "ref": change.head_branch or f"pull/{change.number}/head",
                    "sha": change.head_sha,
                    "repo": _repo_ref(head_repo),
                },
                "base": {
                    "ref": change.base_branch,
                    "sha": change.current_patch_set.base_sha,
                    "repo": _repo_ref(repo),
                },
            }
        )
    title = change.title if change is not None else f"{run.ref or run.sha[:7]}"
    actor = simple_user(run.actor) if run.actor is not None else None
    return {
        "id": run.id,
        "name": "CI",
        "node_id": f"WFR_{run.id}",
        "head_branch": run.ref,
        "head_sha": run.sha,
        "path": ".forge/ci.yml",
        "display_title": title,
        "run_number": run.id,
        "event": ACTIONS_EVENT.get(run.event, run.event),
        "status": status,
        "conclusion": conclusion,
        "workflow_id": repo.id,
        # A run is what GitHub calls a check suite (its jobs, the check runs): same id.
        "check_suite_id": run.id,
        "url": url,
        "html_url": external_url(f"/{repo.full_name}/actions/runs/{run.id}"),
        "pull_requests": pulls,
        "created_at": timestamp(run.created_at),
        "updated_at": timestamp(run.updated_at),
        "actor": actor,
        "triggering_actor": actor,
        "run_attempt": run.attempt,
        "run_started_at": timestamp(started_at or run.created_at),
        "jobs_url": url + "/jobs",
        "logs_url": url + "/logs",
        "check_suite_url": api_url(f"/repos/{repo.full_name}/check-suites/{run.id}"),
        "artifacts_url": url + "/artifacts",
        "workflow_url": api_url(f"/repos/{repo.full_name}/actions/workflows/{repo.id}"),
        "cancel_url": url + "/cancel",
        "rerun_url": url + "/rerun",
        "head_commit": None,
        "repository": repository(repo, None, family=False),
        "head_repository": repository(repo, None, family=False),
    }


def _repo_ref(repo) -> dict:
    return {"id": repo.id, "name": repo.name, "url": api_url(f"/repos/{repo.full_name}")}


def workflow_job(job) -> dict:
    run = job.run
    repo = run.repository
    status, conclusion = _actions_status(job.state)
    run_url = api_url(f"/repos/{repo.full_name}/actions/runs/{run.id}")
    host = job.runner.partition(":")[0]
    return {
        "id": job.id,
        "run_id": run.id,
        "run_url": run_url,
        "run_attempt": job.attempt,
        "node_id": f"WFJ_{job.id}",
        "head_sha": run.sha,
        "head_branch": run.ref,
        "url": api_url(f"/repos/{repo.full_name}/actions/jobs/{job.id}"),
        "html_url": external_url(f"/{repo.full_name}/actions/runs/{run.id}#job-{job.id}"),
        "status": status,
        "conclusion": conclusion,
        "created_at": timestamp(run.created_at),
        # A job not started yet: GitHub gives the time it was queued.
        "started_at": timestamp(job.started_at or run.created_at),
        "completed_at": timestamp(job.finished_at),
        "name": job.name,
        "steps": [],
        "check_run_url": api_url(f"/repos/{repo.full_name}/check-runs/{job.id}"),
        "labels": ["forge-sandbox" if job.sandboxed else "forge-unsandboxed"],
        "runner_id": None,
        "runner_name": host or None,
        "runner_group_id": None,
        "runner_group_name": None,
        "workflow_name": "CI",
    }
