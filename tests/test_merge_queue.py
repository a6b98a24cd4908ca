"""The merge queue: changes land only as exactly the commit CI tested, with real git pushes,
a real rq worker running real CI jobs in bubblewrap, the API and the pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import csrf_from, form_post, wait_for
from sqlalchemy import select
from support.ci import work

from forge.accounts import users as accounts
from forge.gate import quality_gate
from forge.models import Change, CiRun, MergeQueueEntry, Vote
from forge.queue import connect
from forge.repos import repositories as repos

# Green for a change alone, red when both a.txt and b.txt are there.
TOGETHER_RED = (
    "jobs:\n"
    "  test:\n"
    "    run: |\n"
    "      if [ -e a.txt ] && [ -e b.txt ]; then echo 'a and b break each other'; exit 1; fi\n"
    "      test ! -e bad.txt\n"
    "      echo green\n"
)


class Project:
    """alice's repository with a local clone, bob a maintainer who reviews."""

    def __init__(
        self, git, hosted_repo, tmp_path, make_user, make_token, database, api, files, private=False
    ):
        self.git, self.api, self.database = git, api, database
        self.repo = hosted_repo(private=private)
        make_user("bob")
        self.bob = make_token("bob")
        with database.session() as session:
            alice = accounts.get_user(session, "alice")
            repository = repos.get_repository(session, "alice", "project", alice)
            repos.set_collaborator(session, repository, alice, "bob", "maintain")
        self.work = tmp_path / "clone"
        git.init(self.work, {"README.md": "# project\nline two\n", **files})
        git.run("push", "-q", self.repo.push_url, "HEAD:main", cwd=self.work)

    def change(self, branch: str, files: dict, title: str | None = None) -> int:
        git = self.git
        git.run("checkout", "-q", "-b", branch, "main", cwd=self.work)
        git.commit(self.work, files, title or f"add {branch}")
        git.run("push", "-q", self.repo.push_url, branch, cwd=self.work)
        git.run("checkout", "-q", "main", cwd=self.work)
        body = {"title": title or branch, "head": branch, "base": "main"}
        answer = self.api("POST", "/repos/alice/project/pulls", self.repo.token, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["number"]

    def approve(self, number: int) -> None:
        answer = self.api(
            "POST",
            f"/repos/alice/project/pulls/{number}/votes",
            self.bob,
            json={"label": "Code-Review", "value": 2},
        )
        assert answer.status_code in (200, 201), answer.text

    def queue(self, state: str = "all") -> dict[int, dict]:
        answer = self.api("GET", f"/repos/alice/project/merge-queue?state={state}", self.repo.token)
        assert answer.status_code == 200, answer.text
        return {item["pull_request"]["number"]: item for item in answer.json()}

    def main_tip(self) -> str:
        out = self.git.run("ls-remote", self.repo.push_url, "refs/heads/main").stdout
        return out.split()[0]

    def change_row(self, number: int) -> Change:
        with self.database.session() as session:
            return session.scalar(select(Change).where(Change.number == number))

    def entries(self, number: int) -> list[MergeQueueEntry]:
        with self.database.session() as session:
            change = session.scalar(select(Change).where(Change.number == number))
            return list(
                session.scalars(
                    select(MergeQueueEntry)
                    .where(MergeQueueEntry.change_id == change.id)
                    .order_by(MergeQueueEntry.id)
                )
            )

    def run_of(self, sha: str) -> CiRun:
        with self.database.session() as session:
            run = session.scalar(select(CiRun).where(CiRun.sha == sha).order_by(CiRun.id.desc()))
            assert run is not None, f"no CI run for {sha}"
            run.jobs  # noqa: B018 - loaded while the session is open
            return run

    def files_on_main(self, tmp_path) -> set[str]:
        check = tmp_path / "check"
        if check.exists():
            self.git.run("fetch", "-q", "origin", cwd=check)
            self.git.run("reset", "-q", "--hard", "origin/main", cwd=check)
        else:
            self.git.run("clone", "-q", self.repo.url, str(check))
        return {p.name for p in check.iterdir()}


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, api):
    def make(files: dict, private: bool = False) -> Project:
        return Project(
            git, hosted_repo, tmp_path, make_user, make_token, database, api, files, private
        )

    return make


def test_green_alone_red_together_the_first_lands_the_second_is_ejected_main_stays_green(
    ci, project, settings, tmp_path
):
    p = project({".forge/ci.yml": TOGETHER_RED})
    a = p.change("feat-a", {"a.txt": "a\n"})
    b = p.change("feat-b", {"b.txt": "b\n"})
    work(settings)  # each change's own CI: green alone
    assert p.queue() == {}  # not submittable yet: no Code-Review +2
    p.approve(a)
    p.approve(b)  # auto-submit (on by default): both enter by themselves, a first
    work(settings)
    assert p.change_row(a).state == "merged"
    assert p.change_row(b).state == "open"
    [landed] = p.entries(a)
    [ejected] = p.entries(b)
    assert landed.state == "merged" and ejected.state == "ejected"
    # main is exactly the commit the queue tested, and that commit's CI passed.
    assert p.main_tip() == landed.speculative_sha == p.change_row(a).merge_commit_sha
    assert p.run_of(p.main_tip()).state == "passed"
    assert p.files_on_main(tmp_path) >= {"a.txt"} and "b.txt" not in p.files_on_main(tmp_path)
    # b was tested merged on top of a, failed, and says so with the run's link.
    assert ejected.base_sha == landed.speculative_sha
    failed_run = p.run_of(ejected.speculative_sha)
    assert failed_run.state == "failed"
    assert "CI failed on the speculative merge (test failed)" in ejected.reason
    assert f"/alice/project/actions/runs/{failed_run.id}" in ejected.reason
    with p.database.session() as session:
        change_b = session.scalar(select(Change).where(Change.number == b))
        verified = session.scalar(
            select(Vote).where(Vote.change_id == change_b.id, Vote.label == "Verified")
        )
        assert verified.value == -1 and verified.via == "ci"
        assert f"actions/runs/{failed_run.id}" in verified.message
    answer = p.api("GET", f"/repos/alice/project/pulls/{b}/votes", p.repo.token).json()
    assert answer["submit"]["ready"] is False
    assert any(line.startswith("Verified") for line in answer["submit"]["unmet"])
    listed = p.queue()
    assert listed[a]["state"] == "merged" and listed[b]["state"] == "ejected"
    assert listed[b]["ci_run_id"] == failed_run.id and listed[b]["position"] is None
    assert p.queue("active") == {}


def test_a_failing_change_is_ejected_and_the_one_behind_lands_without_it(
    ci, project, settings, client, login, tmp_path
):
    p = project({".forge/ci.yml": TOGETHER_RED})
    bad = p.change("feat-bad", {"bad.txt": "oops\n"})
    good = p.change("feat-good", {"good.txt": "fine\n"})
    work(settings)  # bad's own CI fails, good's passes
    login("alice")  # the owner queues bad past its unmet requirements (admin bypass)
    url = f"/alice/project/pull/{bad}"
    head = p.change_row(bad).head_sha
    page = client.get(url).get_data(as_text=True)
    assert "Add to merge queue" in page
    response = form_post(client, url, url + "/merge", {"method": "merge", "sha": head})
    assert response.status_code == 302
    assert "In the merge queue of <code>main</code> at position 1" in client.get(url).get_data(
        as_text=True
    )
    p.approve(good)  # good enters behind bad by itself
    work(settings)

    [bad_entry] = p.entries(bad)
    good_entries = p.entries(good)
    assert bad_entry.state == "ejected" and bad_entry.bypass
    assert "CI failed" in bad_entry.reason
    assert [e.state for e in good_entries] == ["merged"]
    [good_entry] = good_entries
    # Re-tested without bad: built straight on main's old tip, not on bad's merge.
    assert good_entry.base_sha != bad_entry.speculative_sha
    assert p.main_tip() == good_entry.speculative_sha
    assert p.run_of(p.main_tip()).state == "passed"
    assert "bad.txt" not in p.files_on_main(tmp_path)
    assert p.change_row(good).state == "merged" and p.change_row(bad).state == "open"
    page = client.get(url).get_data(as_text=True)
    assert "Ejected from the merge queue:" in page
    assert "queued this change past unmet submit requirements (admin bypass)" in page


def test_a_push_from_outside_rebuilds_the_queue_on_the_new_tip(ci, project, settings, git, client):
    p = project({".forge/ci.yml": TOGETHER_RED})
    a = p.change("feat-a", {"a.txt": "a\n"})
    work(settings)
    p.approve(a)
    work(settings, ["default"])  # a enters and its speculative merge is built; CI not run yet
    [entry] = p.entries(a)
    assert entry.state == "testing"
    first = entry.speculative_sha
    page = client.get("/alice/project/queue").get_data(as_text=True)
    assert f"<code>{first[:7]}</code>" in page
    assert f'CI run {entry.ci_run_id}</a> <span class="queue-run-state">queued</span>' in page
    outside = git.commit(p.work, {"docs.txt": "pushed directly\n"}, "docs from outside")
    git.run("push", "-q", p.repo.push_url, "main", cwd=p.work)
    work(settings)

    [entry] = p.entries(a)
    assert entry.state == "merged"
    assert entry.base_sha == outside and entry.speculative_sha != first
    assert p.main_tip() == entry.speculative_sha
    assert p.run_of(first).state == "cancelled"  # the stale test was not left running
    assert p.run_of(entry.speculative_sha).state == "passed"


def test_auto_merge_when_auto_submit_is_off_and_removal(ci, project, settings, database):
    p = project({})  # no CI: a speculative merge that builds lands at once
    answer = p.api(
        "PUT", "/repos/alice/project/quality-gate", p.repo.token, json={"auto_submit": False}
    )
    assert answer.status_code == 200, answer.text
    a = p.change("feat-a", {"a.txt": "a\n"})
    b = p.change("feat-b", {"b.txt": "b\n"})
    p.approve(a)
    p.approve(b)
    work(settings)
    assert p.queue() == {}  # submittable, but nobody asked for it to merge

    answer = p.api(
        "PUT",
        f"/repos/alice/project/pulls/{a}/auto-merge",
        p.repo.token,
        json={"merge_method": "squash"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["auto_merge"]["merge_method"] == "squash"
    assert body["merge_queue_entry"]["position"] == 1
    bad = p.api(
        "PUT",
        f"/repos/alice/project/pulls/{b}/auto-merge",
        p.repo.token,
        json={"merge_method": "octopus"},
    )
    assert bad.status_code == 422 and "merge_method" in bad.text
    answer = p.api("PUT", f"/repos/alice/project/pulls/{b}/auto-merge", p.repo.token, json={})
    assert answer.status_code == 200
    assert (
        p.api("GET", f"/repos/alice/project/pulls/{b}", p.repo.token).json()["auto_merge"][
            "merge_method"
        ]
        == "merge"
    )
    assert [item["position"] for item in p.queue("active").values()] == [1, 2]

    # bob (maintain) takes b out again before the worker gets to it.
    assert p.api("DELETE", f"/repos/alice/project/merge-queue/{b}", p.bob).status_code == 204
    assert p.api("DELETE", f"/repos/alice/project/merge-queue/{b}", p.bob).status_code == 404
    work(settings)

    assert p.change_row(a).state == "merged"
    [entry_a] = p.entries(a)
    assert p.main_tip() == entry_a.speculative_sha
    [entry_b] = p.entries(b)
    assert entry_b.state == "removed" and entry_b.reason == "removed by bob"
    assert p.change_row(b).state == "open"
    # Turning auto-merge off and on again puts it back: it is still submittable.
    assert (
        p.api("DELETE", f"/repos/alice/project/pulls/{b}/auto-merge", p.repo.token).status_code
        == 204
    )
    assert p.change_row(b).auto_merge_method is None


def test_a_conflict_ejects_with_the_paths_and_no_ci_lands_at_once(ci, project, settings):
    p = project({})
    a = p.change("edit-a", {"README.md": "# project\nline two, said a\n"})
    b = p.change("edit-b", {"README.md": "# project\nline two, said b\n"})
    p.approve(a)
    p.approve(b)
    work(settings)

    [entry_a] = p.entries(a)
    [entry_b] = p.entries(b)
    assert entry_a.state == "merged" and entry_a.ci_run_id is None
    assert p.main_tip() == entry_a.speculative_sha
    assert entry_b.state == "ejected" and "README.md" in entry_b.reason
    assert "conflicts with" in entry_b.reason
    with p.database.session() as session:
        change_b = session.scalar(select(Change).where(Change.number == b))
        # A conflict is no CI verdict: no Verified -1, the author rebases.
        assert (
            session.scalar(
                select(Vote).where(Vote.change_id == change_b.id, Vote.label == "Verified")
            )
            is None
        )


def test_a_new_patch_set_takes_the_change_out_of_the_queue(ci, project, settings, git):
    p = project({".forge/ci.yml": TOGETHER_RED})
    a = p.change("feat-a", {"a.txt": "a\n"})
    work(settings)
    p.approve(a)
    work(settings, ["default"])
    assert p.entries(a)[0].state == "testing"
    git.run("checkout", "-q", "feat-a", cwd=p.work)
    git.commit(p.work, {"a.txt": "a, again\n"}, "second thoughts")
    git.run("push", "-q", p.repo.push_url, "feat-a", cwd=p.work)
    git.run("checkout", "-q", "main", cwd=p.work)
    [entry] = p.entries(a)
    assert entry.state == "removed" and "patch set 2 was uploaded" in entry.reason
    work(settings)
    assert p.change_row(a).state == "open"  # its +2 is stale: it must be approved again
    assert p.run_of(entry.speculative_sha).state == "cancelled"

    # Approved again, it enters again; closed, it leaves: a closed change never lands.
    p.approve(a)
    work(settings, ["default"])
    assert [e.state for e in p.entries(a)] == ["removed", "testing"]
    closed = p.api(
        "PATCH", f"/repos/alice/project/pulls/{a}", p.repo.token, json={"state": "closed"}
    )
    assert closed.status_code == 200, closed.text
    work(settings)
    assert [e.state for e in p.entries(a)] == ["removed", "removed"]
    assert p.entries(a)[1].reason == "the change was closed"
    assert p.change_row(a).state == "closed"


def test_the_queue_survives_a_killed_worker_and_a_restart(
    ci, project, settings, client, login, database
):
    slow = (
        "jobs:\n  test:\n    run: |\n"
        '      if [ "$CI_REF" = main ]; then echo started; sleep 4; fi\n'
        "      echo done\n"
    )
    p = project({".forge/ci.yml": slow})
    a = p.change("feat-a", {"a.txt": "a\n"})
    login("alice")
    url = f"/alice/project/pull/{a}"
    head = p.change_row(a).head_sha
    assert (
        form_post(client, url, url + "/merge", {"method": "merge", "sha": head}).status_code == 302
    )
    connect(settings.redis_url).flushdb()  # the server restarted with an empty Redis

    def worker():
        return subprocess.Popen(
            [sys.executable, "-m", "forge.cli", "worker", "--queues", "default,ci"],
            env={**os.environ, **ci},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def running_job():
        entries = p.entries(a)
        if not entries or entries[0].ci_run_id is None:
            return None
        run = p.run_of(entries[0].speculative_sha)
        return run if run.jobs and run.jobs[0].state == "running" else None

    first = worker()  # its start-up reconcile finds the queued entry
    try:
        run = wait_for(running_job, timeout=90, what="the merge-queue CI job to start")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # As a crash would, the work horse running the job dies too (rq starts it in a session of
    # its own; the job's `runner` names it), with its sandbox.
    os.killpg(int(run.jobs[0].runner.rsplit(":", 1)[1]), signal.SIGKILL)
    assert p.change_row(a).state == "open"
    # A fresh worker: its CI reconciler ends the dead worker's job (the run errored, which is
    # not the change's fault), the queue runs it again, and it lands.
    second = worker()
    try:
        wait_for(lambda: p.change_row(a).state == "merged", timeout=120, what="a to land")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    [entry] = p.entries(a)
    assert entry.state == "merged" and p.main_tip() == entry.speculative_sha
    again = p.run_of(entry.speculative_sha)
    assert again.id == run.id and again.attempt == 2 and again.state == "passed"


def test_the_queue_page_and_api_respect_privacy_and_roles(
    ci, project, settings, client, login, make_user, make_token, app
):
    p = project({".forge/ci.yml": TOGETHER_RED}, private=True)
    a = p.change("feat-a", {"a.txt": "a\n"})
    make_user("carol")
    carol = make_token("carol")
    make_user("dave")
    dave = make_token("dave")
    with p.database.session() as session:
        alice = accounts.get_user(session, "alice")
        repository = repos.get_repository(session, "alice", "project", alice)
        repos.set_collaborator(session, repository, alice, "dave", "read")
        quality_gate.update_gate(session, alice, repository, auto_submit=False)
    login("alice")
    url = f"/alice/project/pull/{a}"
    head = p.change_row(a).head_sha
    form_post(client, url, url + "/merge", {"method": "merge", "sha": head})

    page = client.get("/alice/project/queue").get_data(as_text=True)
    assert f"#{a} feat-a" in page and "Remove" in page and csrf_from(page)
    assert 'href="/alice/project/queue"' in client.get("/alice/project").get_data(as_text=True)
    # An outsider sees nothing; a reader sees the queue without a Remove button.
    assert p.api("GET", "/repos/alice/project/merge-queue", carol).status_code == 404
    assert p.api("DELETE", f"/repos/alice/project/merge-queue/{a}", carol).status_code == 404
    anonymous = app.test_client()
    assert anonymous.get("/alice/project/queue").status_code == 404
    reader = app.test_client()
    login("dave", test_client=reader)
    page = reader.get("/alice/project/queue").get_data(as_text=True)
    assert f"#{a} feat-a" in page and "Remove" not in page
    denied = p.api("DELETE", f"/repos/alice/project/merge-queue/{a}", dave)
    assert denied.status_code == 403 and "write role" in denied.json()["message"]
    [item] = p.api("GET", "/repos/alice/project/merge-queue?branch=main", dave).json()
    assert item["position"] == 1 and item["pull_request"]["number"] == a
    assert item["state"] in ("queued", "testing") and item["enqueued_by"]["login"] == "alice"

    # The Remove button works, with its CSRF token.
    response = form_post(
        client, "/alice/project/queue", f"/alice/project/queue/{a}/remove", {"from": "queue"}
    )
    assert response.status_code == 302
    assert client.post(f"/alice/project/queue/{a}/remove", data={}).status_code == 400
    assert p.api("GET", "/repos/alice/project/merge-queue", p.repo.token).json() == []
    assert "The merge queue is empty." in client.get("/alice/project/queue").get_data(as_text=True)


def test_merging_through_the_api_with_the_queue_on_joins_the_queue(ci, project, settings):
    p = project({".forge/ci.yml": TOGETHER_RED})
    gate = p.api("PUT", "/repos/alice/project/quality-gate", p.repo.token,
                 json={"auto_submit": False})  # fmt: skip
    assert gate.status_code == 200, gate.text
    number = p.change("feat-a", {"a.txt": "a\n"})
    work(settings)
    merge_url = f"/repos/alice/project/pulls/{number}/merge"

    # bob (maintain, not admin) cannot queue it before it is submittable.
    refused = p.api("PUT", merge_url, p.bob, json={"merge_method": "squash"})
    assert refused.status_code == 405 and "cannot be submitted yet" in refused.json()["message"]
    assert p.queue() == {}

    p.approve(number)  # submittable now; with auto_submit off it waits for a merge
    assert p.queue() == {}
    answer = p.api("PUT", merge_url, p.bob, json={"merge_method": "squash"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "sha": None,
        "merged": False,
        "message": f"Pull Request #{number} was added to the merge queue of main at position 1",
    }
    assert p.queue()[number]["state"] in ("queued", "testing")
    work(settings)
    [entry] = p.entries(number)
    assert entry.state == "merged" and entry.method == "squash"
    assert p.main_tip() == entry.speculative_sha
    assert p.api("GET", merge_url, p.bob).status_code == 204  # GitHub's "is it merged?"


def test_a_veto_while_the_merge_is_tested_keeps_the_change_off_the_branch(ci, project, settings):
    p = project({".forge/ci.yml": TOGETHER_RED})
    number = p.change("feat-a", {"a.txt": "a\n"})
    work(settings)  # the change's own CI: Verified +1
    p.approve(number)  # auto-submit: in the queue
    before = p.main_tip()
    work(settings, queues=("default",))  # the speculative merge is built, its CI queued
    work(settings, queues=("ci",))  # ... and passes; the advance that would land it waits
    veto = p.api("POST", f"/repos/alice/project/pulls/{number}/votes", p.bob,
                 json={"label": "Code-Review", "value": -2, "message": "no"})  # fmt: skip
    assert veto.status_code in (200, 201), veto.text
    work(settings)

    [entry] = p.entries(number)
    # Whichever job sees it first (the landing or the vote's re-check), the veto wins.
    assert entry.state == "removed" and "Code-Review" in entry.reason
    assert p.main_tip() == before  # the tested merge never landed
    assert p.change_row(number).state == "open"
