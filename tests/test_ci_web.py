"""CI runs in the browser: the Actions tab, a run's page with its jobs and logs, the buttons
each user is allowed, private repositories, and (in Chromium) a log that grows while the job
prints, then the Cancel button."""

from __future__ import annotations

import os
import re

import pytest
from conftest import form_post
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console
from support.ci import (
    jobs_of,
    log_of,
    push_ci,
    sleeping,
    start_worker,
    statuses_of,
    stop,
    upload,
    work,
)

FAILING = "jobs:\n  lint:\n    run: echo 'ünïcode ✓'; echo bad style >&2; exit 1\n"


@pytest.mark.usefixtures("ci")
def test_runs_list_and_run_page_show_states_logs_and_links(
    git, hosted_repo, tmp_path, settings, database, client, login, app
):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, FAILING)
    work(settings)
    job = jobs_of(database, sha)["lint"]

    listing = client.get("/alice/project/actions").get_data(as_text=True)
    assert 'href="/alice/project/actions"' in listing  # the repository's Actions tab
    assert f"Run #{job.run_id}" in listing and sha[:7] in listing
    assert ">Failed<" in listing and "push by alice" in listing

    page = f"/alice/project/actions/runs/{job.run_id}"
    html = client.get(page).get_data(as_text=True)
    assert "ünïcode ✓\nbad style\n" in html
    assert "exited with code 1" in html
    assert "Re-run" not in html and "Cancel" not in html  # anonymous: no buttons
    # The commit status links here, and the change page's checks link to it.
    assert statuses_of(database, sha)["ci/lint"].target_url.endswith(page)

    live = client.get(f"{page}/live?offsets={job.id}:10").get_json()
    assert live["finished"] and live["state"] == "failed" and live["actions"] == []
    assert live["jobs"][0]["text"] == "✓\nbad style\n"  # from byte 10: after "ünïcode "
    # An offset past the end (or past what a file offset can hold) reads nothing, no error.
    for offset in ("99999", "99999999999999999999"):
        past = client.get(f"{page}/live?offsets={job.id}:{offset}")
        assert past.status_code == 200 and past.get_json()["jobs"][0]["text"] == ""
    raw = client.get(f"{page}/jobs/{job.id}/log")
    assert raw.mimetype == "text/plain" and raw.get_data(as_text=True).endswith("bad style\n")

    owner = login("alice", test_client=app.test_client())
    mine = owner.get(page).get_data(as_text=True)
    buttons = dict(
        re.findall(r'<form method="post" class="inline" data-action="(\w+)"[^>]*?( hidden)?>', mine)
    )
    assert buttons == {"approve": " hidden", "cancel": " hidden", "rerun": ""}
    assert owner.get(f"{page}/live").get_json()["actions"] == ["rerun"]
    assert client.get("/alice/project/actions/runs/999").status_code == 404
    assert client.get(f"{page}/jobs/999/log").status_code == 404


@pytest.mark.usefixtures("ci")
def test_a_private_repositorys_runs_are_not_found_without_access(
    git, hosted_repo, tmp_path, settings, database, client, login, make_user
):
    repo = hosted_repo(name="secret", private=True)
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo hidden\n")
    work(settings)
    job = jobs_of(database, sha)["test"]
    page = f"/alice/secret/actions/runs/{job.run_id}"
    paths = ["/alice/secret/actions", page, f"{page}/live", f"{page}/jobs/{job.id}/log"]
    for path in paths:
        assert client.get(path).status_code == 404, path
    make_user("bob")
    login("bob")
    for path in paths:
        assert client.get(path).status_code == 404, path
    # bob cannot act on it either: the run is not found before his form is looked at.
    assert form_post(client, "/new", f"{page}/rerun", {}).status_code == 404
    assert jobs_of(database, sha)["test"].attempt == 1


# Each test process sleeps for a duration of its own (0.5 s and its pid's digits), so that
# looking for leftover `sleep` processes never finds another run's, such as CI's other suite
# running beside this one.
SLOW_SLEEP = f"sleep 0.5{os.getpid()}"
SLOW = f"""jobs:
  slow:
    run: |
      for i in $(seq 1 40); do echo "line $i"; {SLOW_SLEEP}; done
    timeout: 60
"""


@pytest.mark.usefixtures("ci")
def test_the_log_grows_live_and_cancel_stops_the_job(
    browser,
    git,
    hosted_repo,
    tmp_path,
    settings,
    database,
    live_server,
):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, SLOW)
    run_id = jobs_of(database, sha)["slow"].run_id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/alice/project/actions/runs/{run_id}")
    expect(page.locator("#run-state")).to_have_text("Queued")
    page.evaluate("window.stillTheSamePage = true")

    worker = start_worker(settings_env(settings), "--burst")
    try:
        log = page.locator("section.job .job-log")
        expect(log).to_contain_text("line 2")
        expect(page.locator("#run-state")).to_have_text("Running")
        expect(log).to_contain_text("line 5")
        assert page.evaluate("window.stillTheSamePage") is True  # no reload: it grew
        shot(page, "ci-live-log")
        page.click("form[data-action=cancel] button")
        expect(page.locator("#run-state")).to_have_text("Cancelled")
        expect(page.locator("form[data-action=rerun]")).to_be_visible()
        expect(page.locator("form[data-action=cancel]")).to_be_hidden()
        expect(page.locator("section.job .job-reason")).to_have_text("cancelled by alice")
        expect(log).to_contain_text("[forge: cancelled]")
        worker.wait(timeout=60)
    finally:
        stop(worker)
    job = jobs_of(database, sha)["slow"]
    assert job.state == "cancelled" and "line 40" not in log_of(settings, job)
    assert sleeping(SLOW_SLEEP) == []
    assert errors == []
    context.close()


def settings_env(settings) -> dict:
    return {
        "FORGE_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }


def test_the_change_pages_checks_link_to_the_run(
    ci_project,
    git,
    tmp_path,
    settings,
    database,
    client,
):
    sha = upload(git, ci_project.carol_url, tmp_path / "carol", "from carol")
    work(settings)
    run_id = jobs_of(database, sha)["test"].run_id
    page = client.get("/alice/project/pull/1").get_data(as_text=True)
    assert re.search(
        rf'ci/test: success &mdash; Passed <a href="http://127\.0\.0\.1:\d+/alice/project/'
        rf'actions/runs/{run_id}" rel="nofollow noopener">Details</a>',
        page,
    )


@pytest.mark.usefixtures("ci")
def test_the_run_page_says_when_jobs_had_no_sandbox(
    git, hosted_repo, tmp_path, settings, database, client, login, monkeypatch
):
    monkeypatch.setenv("FORGE_CI_BWRAP", "/nonexistent/bwrap")
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, "jobs:\n  test:\n    run: echo ran\n")
    work(settings)
    job = jobs_of(database, sha)["test"]
    page = f"/alice/project/actions/runs/{job.run_id}"
    refused = client.get(page).get_data(as_text=True)
    assert "This forge has no sandbox for CI jobs: the worker refused to run this job." in refused
    assert ">Errored<" in refused

    monkeypatch.setenv("FORGE_CI_UNSANDBOXED", "1")  # the admin allows it, and alice re-runs
    login("alice")
    assert form_post(client, page, page + "/rerun", {}).status_code == 302
    work(settings)
    assert jobs_of(database, sha)["test"].state == "passed"
    ran = client.get(page).get_data(as_text=True)
    assert "This job ran without a sandbox" in ran and "FORGE_CI_UNSANDBOXED=1" in ran
    assert "refused to run this job" not in ran
