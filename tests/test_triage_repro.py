"""Reproduction by CI, end to end with the real parts: a report carrying a ```repro script is
run by a real rq worker in the bubblewrap sandbox on the default branch's tip and shows
"reproduced on <sha>"; a change saying `Fixes #N`, pushed with git and merged, runs it again
on the new tip, where it passes, and the report is closed as completed with forge's comment
saying so. A newcomer's script waits for a maintainer's approval, as a newcomer's change does.
"""

from __future__ import annotations

import pytest
import requests
from support.ci import work
from support.github_webhook_schema import assert_valid_webhook
from support.webhooks import drain, loopback_settings, make_hook

from forge.models import CiRun

REPO = "/repos/alice/project"


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


BUGGY = "echo $(($1 + 1))\n"  # double.sh: doubles its argument, except it adds one
FIXED = "echo $(($1 * 2))\n"
REPORT = """`sh double.sh 2` prints 3.

```repro
test "$(sh double.sh 2)" = 4
```
"""


def test_a_repro_script_is_reproduced_then_passes_after_the_fix_merges_and_closes_the_report(
    ci,
    database,
    hosted_repo,
    git,
    tmp_path,
    api,
    github,
    settings,
    live_server,
    make_user,
    make_token,
    receiver,
    monkeypatch,
):
    # The CI worker sends what its jobs decided (forge-ci's comment) to the loopback receiver.
    monkeypatch.setenv("FORGE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    info = hosted_repo()
    work_dir = git.init(tmp_path / "work", {"double.sh": BUGGY})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_dir)
    main_sha = git.head(work_dir)

    created = api(
        "POST", f"{REPO}/issues", info.token, json={"title": "2 doubled is 3", "body": REPORT}
    )
    number = created.json()["number"]
    queued = api("GET", f"{REPO}/issues/{number}/triage", info.token).json()["repro"]
    assert (queued["sha"], queued["state"]) == (main_sha, "queued")
    work(settings)
    repro = api("GET", f"{REPO}/issues/{number}/triage", info.token).json()["repro"]
    assert (repro["result"], repro["sha"]) == ("reproduced", main_sha)
    page = requests.get(f"{live_server}/alice/project/issues/{number}", timeout=30).text
    assert f"Reproduced on <code>{main_sha[:7]}</code>" in page
    assert f"/alice/project/actions/runs/{repro['id']}" in page
    with database.session() as session:
        job = session.get(CiRun, repro["id"]).jobs[0]
        assert (job.name, job.sandboxed, job.exit_code) == ("repro", True, 1)
    # The default branch got no red status from it.
    statuses = api("GET", f"{REPO}/commits/{main_sha}/statuses", info.token).json()
    assert statuses == []

    git.run("checkout", "-q", "-b", "fix", cwd=work_dir)
    git.commit(work_dir, {"double.sh": FIXED}, f"Double, do not add one\n\nFixes #{number}")
    git.run("push", "-q", info.push_url, "fix", cwd=work_dir)
    repo, _hook = make_hook(github, info, receiver, settings, events=("issue_comment",))
    pull = repo.create_pull(title="Fix double", body="", base="main", head="fix")
    merged = pull.merge(merge_method="merge")
    assert merged.merged
    # The merge alone does not close a report that carries its own test: the test decides.
    assert api("GET", f"{REPO}/issues/{number}", info.token).json()["state"] == "open"
    work(settings)
    after = api("GET", f"{REPO}/issues/{number}/triage", info.token).json()["repro"]
    assert (after["result"], after["sha"]) == ("not reproduced", merged.sha)
    issue = api("GET", f"{REPO}/issues/{number}", info.token).json()
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    events = api("GET", f"{REPO}/issues/{number}/events", info.token).json()
    closed = [e for e in events if e["event"] == "closed"]
    assert [e["commit_id"] for e in closed] == [merged.sha]
    comments = api("GET", f"{REPO}/issues/{number}/comments", info.token).json()
    said = [c["body"] for c in comments if c["user"]["login"] == "forge-ci"]
    assert len(said) == 1 and f"on {merged.sha[:7]}" in said[0] and "passes now" in said[0]
    # The comment went out as GitHub's issue_comment webhook, valid against its schema.

    def ci_commented():
        return [
            r for r in receiver.events("issue_comment")
            if r.payload()["comment"]["user"]["login"] == "forge-ci"
        ]  # fmt: skip

    drain(settings, ci_commented)
    [delivery] = ci_commented()
    assert_valid_webhook("issue_comment", delivery.payload())

    # A newcomer's script waits for approval before it runs anywhere.
    make_user("mallory")
    stranger = make_token("mallory")
    held = api("POST", f"{REPO}/issues", stranger, json={"title": "Also", "body": REPORT}).json()
    waiting = api("GET", f"{REPO}/issues/{held['number']}/triage", info.token).json()["repro"]
    assert waiting["state"] == "waiting" and waiting["result"] == "waiting for approval"


PATCHED_REPORT = """A test shows it:

```repro-patch
diff --git a/test_double.sh b/test_double.sh
new file mode 100644
--- /dev/null
+++ b/test_double.sh
@@ -0,0 +1 @@
+test "$(sh double.sh 21)" = 42
```

```repro
sh test_double.sh
```
"""


def test_a_repro_patch_adds_the_failing_test_and_one_that_does_not_apply_is_no_reproduction(
    ci, hosted_repo, git, tmp_path, api, settings
):
    info = hosted_repo()
    work_dir = git.init(tmp_path / "work", {"double.sh": BUGGY})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work_dir)
    patched = api(
        "POST", f"{REPO}/issues", info.token, json={"title": "21 doubled", "body": PATCHED_REPORT}
    ).json()["number"]
    stale = PATCHED_REPORT.replace("new file mode 100644\n--- /dev/null", "--- a/test_double.sh")
    stale = stale.replace("@@ -0,0 +1 @@", "@@ -1 +1 @@\n-old line")
    broken = api(
        "POST", f"{REPO}/issues", info.token, json={"title": "Stale patch", "body": stale}
    ).json()["number"]
    work(settings)
    results = {
        n: api("GET", f"{REPO}/issues/{n}/triage", info.token).json()["repro"]["result"]
        for n in (patched, broken)
    }
    assert results == {patched: "reproduced", broken: "could not run"}
