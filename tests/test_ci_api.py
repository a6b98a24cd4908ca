"""The Actions API over CI runs: GitHub's workflow run and job shapes, its filters, the logs
as a zip, re-run and cancel, read by PyGithub and plain HTTP against a real worker's runs."""

from __future__ import annotations

import io
import zipfile

import pytest
from support.ci import jobs_of, push_ci, work

TWO_JOBS = (
    "jobs:\n"
    "  build:\n"
    "    run: echo built\n"
    "  test:\n"
    "    run: echo testing; exit 3\n"
    "    needs: [build]\n"
)


@pytest.fixture
def finished(ci, git, hosted_repo, tmp_path, settings):
    """alice's project with one finished run on main: build passed, test failed."""
    repo = hosted_repo()
    repo.sha = push_ci(git, repo, tmp_path, TWO_JOBS)
    work(settings)
    return repo


def test_runs_are_listed_and_read_in_githubs_shapes(finished, github, live_server, database):
    repo = github(finished.token).get_repo("alice/project")
    runs = repo.get_workflow_runs()
    assert runs.totalCount == 1
    run = runs[0]
    assert (run.head_sha, run.head_branch, run.event) == (finished.sha, "main", "push")
    assert (run.status, run.conclusion, run.run_attempt) == ("completed", "failure", 1)
    assert run.html_url == f"{live_server}/alice/project/actions/runs/{run.id}"
    assert run.actor.login == "alice" and run.name == "CI"
    jobs = {job.name: job for job in run.jobs()}
    assert {n: (j.status, j.conclusion) for n, j in jobs.items()} == {
        "build": ("completed", "success"),
        "test": ("completed", "failure"),
    }
    assert jobs["test"].html_url.endswith(f"/actions/runs/{run.id}#job-{jobs['test'].id}")
    assert repo.get_workflow_run(run.id).conclusion == "failure"


def test_filters_and_pages_as_github(finished, api, git, tmp_path):
    for number in range(3):
        git.commit(tmp_path / "work", {"n.txt": str(number)}, f"commit {number}")
        git.run("push", finished.push_url, "HEAD:main", cwd=tmp_path / "work")

    def listed(query: str) -> dict:
        answer = api("GET", f"/repos/alice/project/actions/runs{query}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = listed("")
    assert everything["total_count"] == 4
    ids = [run["id"] for run in everything["workflow_runs"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert listed("?status=queued")["total_count"] == 3
    assert listed("?status=failure")["total_count"] == 1
    assert listed("?status=completed")["total_count"] == 1
    assert listed(f"?head_sha={finished.sha}")["workflow_runs"][0]["id"] == ids[-1]
    assert listed("?branch=main&event=push")["total_count"] == 4
    assert listed("?event=pull_request")["total_count"] == 0
    assert listed("?branch=other")["total_count"] == 0
    assert listed("?actor=alice")["total_count"] == 4
    page = api("GET", "/repos/alice/project/actions/runs?per_page=3&page=2")
    assert [run["id"] for run in page.json()["workflow_runs"]] == ids[3:]
    assert page.json()["total_count"] == 4 and 'rel="prev"' in page.headers["Link"]
    bad = api("GET", "/repos/alice/project/actions/runs?status=sideways")
    assert bad.status_code == 422 and "status must be one of" in bad.json()["message"]


def test_logs_come_as_a_zip_per_run_and_as_text_per_job(finished, api, database):
    jobs = jobs_of(database, finished.sha)
    run_id = jobs["build"].run_id
    answer = api("GET", f"/repos/alice/project/actions/runs/{run_id}/logs")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.namelist() == ["1_build.txt", "2_test.txt"]
    # Each job's own output, in its own file (a sandbox may add lines of its own).
    build = archive.read("1_build.txt").decode().splitlines()
    test = archive.read("2_test.txt").decode().splitlines()
    assert "built" in build and "testing" not in build
    assert "testing" in test and "built" not in test
    text = api("GET", f"/repos/alice/project/actions/jobs/{jobs['test'].id}/logs")
    assert text.status_code == 200 and text.text.splitlines() == test
    assert text.headers["Content-Type"].startswith("text/plain")


def test_rerun_and_cancel_need_write_access_and_say_when_it_is_too_late(
    finished, github, api, make_user, make_token, database
):
    run_id = jobs_of(database, finished.sha)["build"].run_id
    make_user("bob")
    bob = github(make_token("bob")).get_repo("alice/project")
    run = bob.get_workflow_run(run_id)  # a public repository: anyone may read its runs
    assert run.rerun() is False and run.cancel() is False  # PyGithub: not 201/202
    path = f"/repos/alice/project/actions/runs/{run_id}"
    refused = api("POST", path + "/rerun", make_token("bob"))
    assert refused.status_code == 403 and "write role" in refused.json()["message"]
    # A token without the repo scope cannot act, even for the owner.
    narrow = make_token("alice", "user")
    assert api("POST", path + "/rerun", narrow).status_code == 403
    assert jobs_of(database, finished.sha)["build"].attempt == 1

    finished_already = api("POST", path + "/cancel", finished.token)
    assert finished_already.status_code == 409
    assert finished_already.json()["message"] == "Cannot cancel a workflow run that is completed."
    assert api("POST", path + "/rerun", finished.token).status_code == 201
    assert api("POST", path + "/rerun", finished.token).status_code == 409  # queued again
    assert api("GET", path, finished.token).json()["status"] == "queued"
    assert api("POST", path + "/cancel", finished.token).status_code == 202
    body = api("GET", path, finished.token).json()
    assert (body["status"], body["conclusion"], body["run_attempt"]) == (
        "completed",
        "cancelled",
        2,
    )


@pytest.mark.usefixtures("ci")
def test_private_runs_are_not_found_for_those_without_access(
    git, hosted_repo, tmp_path, settings, api, make_user, make_token, database
):
    repo = hosted_repo(name="secret", private=True)
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo hidden\n")
    work(settings)
    job = jobs_of(database, sha)["test"]
    make_user("bob")
    bob = make_token("bob")
    base = "/repos/alice/secret/actions"
    for path in (
        "/runs",
        f"/runs/{job.run_id}",
        f"/runs/{job.run_id}/jobs",
        f"/runs/{job.run_id}/logs",
        f"/jobs/{job.id}",
        f"/jobs/{job.id}/logs",
    ):
        assert api("GET", base + path).status_code == 404, path
        assert api("GET", base + path, bob).status_code == 404, path
        assert api("GET", base + path, repo.token).status_code == 200, path
    assert api("POST", f"{base}/runs/{job.run_id}/rerun", bob).status_code == 404
    assert jobs_of(database, sha)["test"].attempt == 1
