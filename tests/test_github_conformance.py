"""Every answer forge gives under /api/v3 matches GitHub's own schema for the same operation.

The schemas are GitHub's published REST description (npm `@octokit/openapi`, vendored in part
in tests/github_schemas/openapi): a client written against GitHub (github3.py, Octokit, gh)
reads forge's answers as it reads GitHub's. One story drives every endpoint forge serves that
GitHub also has, with real data behind the paths, and lists every field that breaks GitHub's
schema at once; a second test fails when an endpoint is added without being driven here.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import requests
from support.github_schema import github_response_errors, operation_key

from forge.api.openapi import FOLDER, METHODS, load

CI_YML = "jobs:\n  test:\n    run: echo testing\n"
HOOK_TARGET = "http://127.0.0.1:9/hook"  # nothing listens there; no worker delivers in here
# Operations whose GitHub answer is a redirect to a download: forge answers the download
# itself (clients follow the redirect and end at the same bytes), so there is no JSON to check.
DOWNLOADS = {
    ("GET", "/repos/{}/{}/actions/jobs/{}/logs"),
    ("GET", "/repos/{}/{}/actions/runs/{}/logs"),
    ("GET", "/repos/{}/{}/zipball/{}"),
    ("GET", "/repos/{}/{}/tarball/{}"),
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture
def settings(settings):
    # The hook below points at loopback, which the SSRF guard refuses unless allowed.
    return replace(settings, webhook_allowed_hosts=("127.0.0.1",))


@dataclass
class Conformance:
    """Calls the API and checks each answer against GitHub's schema, collecting failures."""

    api: object
    token: str
    failures: list[str] = field(default_factory=list)
    driven: set[tuple[str, str]] = field(default_factory=set)

    def call(self, method, template, path, status, token=None, **kwargs):
        response = self.api(method, path, token or self.token, **kwargs)
        self.driven.add((method, _shape(template)))
        label = f"{method} {path}"
        if response.status_code != status:
            self.failures.append(
                f"{label}: answered {response.status_code}, not {status}: {response.text[:300]}"
            )
            return None
        if (method, _shape(template)) in DOWNLOADS:
            return response.content
        body = response.json() if response.content else None
        for error in github_response_errors(method, template, status, body):
            self.failures.append(f"{label} ({status}) {error}")
        return body


@pytest.fixture
def conformance(api, hosted_repo, git, tmp_path, make_user, make_token):
    repo = hosted_repo()
    files = {"README.md": "# project\n", "src/app.py": "print(1)\n", ".forge/ci.yml": CI_YML}
    work = git.init(tmp_path / "work", files)
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("tag", "v1", cwd=work)
    git.run("push", repo.push_url, "v1", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    head = git.commit(work, {"src/app.py": "print(2)\n"}, "Print two")
    git.run("push", repo.push_url, "feature", cwd=work)
    make_user("bob")
    checker = Conformance(api=api, token=repo.token)
    checker.head = head
    checker.bob_token = make_token("bob")
    return checker


def test_every_answer_matches_githubs_schema(conformance, database, settings):
    c = conformance
    r = "/repos/{owner}/{repo}"
    p = "/repos/alice/project"
    head = c.head

    # Users and repositories.
    c.call("GET", "/user", "/user", 200)
    c.call("PATCH", "/user", "/user", 200, json={"name": "Alice Liddell"})
    c.call("GET", "/users/{username}", "/users/bob", 200)
    c.call("GET", "/users/{username}/repos", "/users/alice/repos", 200)
    c.call("GET", "/user/repos", "/user/repos", 200)
    c.call("POST", "/user/repos", "/user/repos", 201, json={"name": "second", "private": True})
    c.call("GET", r, p, 200)
    c.call("PATCH", r, "/repos/alice/second", 200, json={"description": "The second"})
    c.call("GET", r, "/repos/alice/nothing-here", 404)
    # Errors are answers too, in GitHub's error and validation-error shapes.
    c.call("GET", "/user", "/user", 401, token="not-a-token")
    c.call("POST", "/user/repos", "/user/repos", 422, json={"name": "second"})
    c.call("GET", r, "/repos/alice/second", 404, token=c.bob_token)  # private: not there
    # Errors are answers too, in GitHub's error and validation-error shapes.
    c.call("GET", "/user", "/user", 401, token="not-a-token")
    c.call("POST", "/user/repos", "/user/repos", 422, json={"name": "second"})
    c.call("GET", r, "/repos/alice/second", 404, token=c.bob_token)  # private: not there

    # Collaborators.
    c.call(
        "PUT",
        r + "/collaborators/{username}",
        p + "/collaborators/bob",
        201,
        json={"permission": "push"},
    )
    c.call("GET", r + "/collaborators", p + "/collaborators", 200)
    c.call("GET", r + "/collaborators/{username}", p + "/collaborators/bob", 204)
    c.call(
        "GET", r + "/collaborators/{username}/permission", p + "/collaborators/bob/permission", 200
    )

    # Git data: branches, protection, tags, refs, commits, contents, statuses.
    c.call("GET", r + "/branches", p + "/branches", 200)
    c.call("GET", r + "/branches/{branch}", p + "/branches/feature", 200)
    c.call(
        "PUT",
        r + "/branches/{branch}/protection",
        p + "/branches/main/protection",
        200,
        json={
            "required_status_checks": {"strict": True, "contexts": ["ci"]},
            "enforce_admins": False,
            "required_pull_request_reviews": {"required_approving_review_count": 1},
            "restrictions": None,
        },
    )
    c.call("GET", r + "/branches/{branch}/protection", p + "/branches/main/protection", 200)
    checks = r + "/branches/{branch}/protection/required_status_checks"
    main_checks = p + "/branches/main/protection/required_status_checks"
    c.call("GET", checks, main_checks, 200)
    c.call("GET", checks + "/contexts", main_checks + "/contexts", 200)
    c.call("POST", checks + "/contexts", main_checks + "/contexts", 200, json=["lint"])
    c.call("DELETE", checks + "/contexts", main_checks + "/contexts", 200, json=["lint"])
    c.call("PUT", checks + "/contexts", main_checks + "/contexts", 200, json={"contexts": ["ci"]})
    c.call("DELETE", checks, main_checks, 204)
    c.call("PATCH", checks, main_checks, 200, json={"strict": True, "contexts": ["ci"]})
    c.call("GET", r + "/branches/{branch}", p + "/branches/main", 200)
    c.call("GET", r + "/tags", p + "/tags", 200)
    c.call("GET", r + "/git/ref/{ref}", p + "/git/ref/heads/main", 200)
    c.call(
        "POST", r + "/git/refs", p + "/git/refs", 201, json={"ref": "refs/heads/spare", "sha": head}
    )
    c.call("PATCH", r + "/git/refs/{ref}", p + "/git/refs/heads/spare", 200, json={"sha": head})
    c.call("DELETE", r + "/git/refs/{ref}", p + "/git/refs/heads/spare", 204)
    c.call("GET", r + "/commits/{ref}", f"{p}/commits/{head}", 200)
    c.call("GET", r + "/contents/{path}", p + "/contents/README.md", 200)
    c.call("GET", r + "/contents/{path}", p + "/contents/src", 200)
    c.call("GET", r + "/contents", p + "/contents", 200)
    c.call(
        "POST",
        r + "/statuses/{sha}",
        f"{p}/statuses/{head}",
        201,
        json={"state": "success", "context": "ci", "target_url": "http://ci.example.org/1"},
    )
    c.call("GET", r + "/commits/{ref}/status", p + "/commits/feature/status", 200)
    c.call("GET", r + "/commits/{ref}/statuses", p + "/commits/feature/statuses", 200)

    # History, and writing through the contents and git data APIs.
    c.call("GET", r + "/commits", p + "/commits?sha=feature", 200)
    c.call("GET", r + "/compare/{basehead}", p + "/compare/main...feature", 200)
    c.call("GET", r + "/contents/", p + "/contents/", 200)
    c.call("GET", r + "/readme", p + "/readme", 200)
    c.call("GET", r + "/readme/{dir}", p + "/readme/src", 404)
    c.call("GET", r + "/languages", p + "/languages", 200)
    c.call("GET", r + "/contributors", p + "/contributors", 200)
    c.call("GET", r + "/git/matching-refs/{ref}", p + "/git/matching-refs/heads/", 200)
    note = base64.b64encode(b"notes\n").decode()
    written = c.call(
        "PUT",
        r + "/contents/{path}",
        p + "/contents/NOTES.md",
        201,
        json={"message": "Add notes", "content": note, "branch": "feature"},
    )
    c.call(
        "DELETE",
        r + "/contents/{path}",
        p + "/contents/NOTES.md",
        200,
        json={
            "message": "Drop notes",
            "branch": "feature",
            "sha": written["content"]["sha"] if written else "0" * 40,
        },
    )
    blob = c.call("POST", r + "/git/blobs", p + "/git/blobs", 201, json={"content": "hi\n"})
    blob_sha = blob["sha"] if blob else "0" * 40
    c.call("GET", r + "/git/blobs/{file_sha}", f"{p}/git/blobs/{blob_sha}", 200)
    tree = c.call(
        "POST",
        r + "/git/trees",
        p + "/git/trees",
        201,
        json={"tree": [{"path": "hi.txt", "mode": "100644", "type": "blob", "sha": blob_sha}]},
    )
    tree_sha = tree["sha"] if tree else "0" * 40
    c.call("GET", r + "/git/trees/{tree_sha}", f"{p}/git/trees/{tree_sha}", 200)
    made = c.call(
        "POST",
        r + "/git/commits",
        p + "/git/commits",
        201,
        json={"message": "Say hi", "tree": tree_sha, "parents": [head]},
    )
    made_sha = made["sha"] if made else head
    c.call("GET", r + "/git/commits/{commit_sha}", f"{p}/git/commits/{made_sha}", 200)
    c.call("GET", "/user/emails", "/user/emails", 200)
    head = c.api("GET", p + "/branches/feature", c.token).json()["commit"]["sha"]

    # Pull requests, reviews and comments.
    pull = c.call(
        "POST",
        r + "/pulls",
        p + "/pulls",
        201,
        json={"head": "feature", "base": "main", "title": "Two", "body": "Prints 2"},
    )
    number = pull["number"] if pull else 1
    pr = f"{p}/pulls/{number}"
    c.call("GET", r + "/pulls", p + "/pulls", 200)
    c.call(
        "POST",
        r + "/pulls",
        p + "/pulls",
        422,
        json={"head": "no-such-branch", "base": "main", "title": "Nothing"},
    )
    c.call("GET", r + "/pulls/{pull_number}", p + "/pulls/999", 404)
    c.call("GET", r + "/pulls/{pull_number}", pr, 200)
    c.call("PATCH", r + "/pulls/{pull_number}", pr, 200, json={"body": "Prints two"})
    c.call("GET", r + "/pulls/{pull_number}/commits", pr + "/commits", 200)
    c.call("GET", r + "/pulls/{pull_number}/files", pr + "/files", 200)
    asked = r + "/pulls/{pull_number}/requested_reviewers"
    c.call("POST", asked, pr + "/requested_reviewers", 201, json={"reviewers": ["bob"]})
    c.call("GET", asked, pr + "/requested_reviewers", 200)
    c.call("DELETE", asked, pr + "/requested_reviewers", 200, json={"reviewers": ["bob"]})
    review = c.call(
        "POST",
        r + "/pulls/{pull_number}/reviews",
        pr + "/reviews",
        200,
        token=c.bob_token,
        json={
            "event": "COMMENT",
            "body": "Looks fine",
            "comments": [{"path": "src/app.py", "line": 1, "body": "Why two?"}],
        },
    )
    review_id = review["id"] if review else 1
    c.call("GET", r + "/pulls/{pull_number}/reviews", pr + "/reviews", 200)
    c.call("GET", r + "/pulls/{pull_number}/reviews/{review_id}", f"{pr}/reviews/{review_id}", 200)
    c.call(
        "GET",
        r + "/pulls/{pull_number}/reviews/{review_id}/comments",
        f"{pr}/reviews/{review_id}/comments",
        200,
    )
    approval = c.call(
        "POST",
        r + "/pulls/{pull_number}/reviews",
        pr + "/reviews",
        200,
        token=c.bob_token,
        json={"event": "APPROVE", "body": "Ship it"},
    )
    c.call(
        "PUT",
        r + "/pulls/{pull_number}/reviews/{review_id}/dismissals",
        f"{pr}/reviews/{approval['id'] if approval else 1}/dismissals",
        200,
        json={"message": "The approval predates the rewrite", "event": "DISMISS"},
    )
    inline = c.call(
        "POST",
        r + "/pulls/{pull_number}/comments",
        pr + "/comments",
        201,
        json={
            "body": "Two it is",
            "commit_id": head,
            "path": "src/app.py",
            "line": 1,
            "side": "RIGHT",
        },
    )
    inline_id = inline["id"] if inline else 1
    c.call("GET", r + "/pulls/{pull_number}/comments", pr + "/comments", 200)
    c.call(
        "POST",
        r + "/pulls/{pull_number}/comments/{comment_id}/replies",
        f"{pr}/comments/{inline_id}/replies",
        201,
        json={"body": "Agreed"},
    )
    c.call("GET", r + "/pulls/comments/{comment_id}", f"{p}/pulls/comments/{inline_id}", 200)
    c.call(
        "PATCH",
        r + "/pulls/comments/{comment_id}",
        f"{p}/pulls/comments/{inline_id}",
        200,
        json={"body": "Two it is, then"},
    )
    c.call("DELETE", r + "/pulls/comments/{comment_id}", f"{p}/pulls/comments/{inline_id}", 204)
    talk = c.call(
        "POST",
        r + "/issues/{issue_number}/comments",
        f"{p}/issues/{number}/comments",
        201,
        token=c.bob_token,
        json={"body": "Ok"},
    )
    talk_id = talk["id"] if talk else 1
    c.call("GET", r + "/issues/{issue_number}/comments", f"{p}/issues/{number}/comments", 200)
    c.call("GET", r + "/issues/comments/{comment_id}", f"{p}/issues/comments/{talk_id}", 200)
    c.call(
        "PATCH",
        r + "/issues/comments/{comment_id}",
        f"{p}/issues/comments/{talk_id}",
        200,
        token=c.bob_token,
        json={"body": "Ok!"},
    )
    # The inbox (bob's comment is news for alice, the author) and watching.
    news = c.call("GET", "/notifications", "/notifications?all=true", 200) or [{"id": "1"}]
    thread, t = f"/notifications/threads/{news[0]['id']}", "/notifications/threads/{thread_id}"
    c.call("GET", t, thread, 200)
    c.call("PATCH", t, thread, 205)
    c.call("GET", r + "/notifications", p + "/notifications?all=true", 200)
    c.call("PUT", r + "/notifications", p + "/notifications", 205, json={})
    c.call("PUT", "/notifications", "/notifications", 205, json={})
    c.call("DELETE", t, thread, 204)
    c.call("PUT", r + "/subscription", p + "/subscription", 200, json={"subscribed": True})
    c.call("GET", r + "/subscription", p + "/subscription", 200)
    c.call("GET", r + "/subscribers", p + "/subscribers", 200)
    c.call("GET", "/user/subscriptions", "/user/subscriptions", 200)
    c.call("GET", "/users/{username}/subscriptions", "/users/alice/subscriptions", 200)
    c.call("DELETE", r + "/subscription", p + "/subscription", 204)
    c.call("GET", r + "/subscription", p + "/subscription", 404)
    c.call(
        "DELETE",
        r + "/issues/comments/{comment_id}",
        f"{p}/issues/comments/{talk_id}",
        204,
        token=c.bob_token,
    )
    c.call("GET", r + "/pulls/{pull_number}/merge", pr + "/merge", 404)

    # CI runs (queued: no worker runs them here).
    runs = c.call("GET", r + "/actions/runs", p + "/actions/runs?branch=feature", 200)
    run_id = runs["workflow_runs"][0]["id"] if runs and runs["workflow_runs"] else 1
    jobs = c.call("GET", r + "/actions/runs/{run_id}/jobs", f"{p}/actions/runs/{run_id}/jobs", 200)
    job_id = jobs["jobs"][0]["id"] if jobs and jobs["jobs"] else 1
    c.call("GET", r + "/actions/runs/{run_id}", f"{p}/actions/runs/{run_id}", 200)
    c.call("GET", r + "/actions/jobs/{job_id}", f"{p}/actions/jobs/{job_id}", 200)
    c.call("POST", r + "/actions/runs/{run_id}/cancel", f"{p}/actions/runs/{run_id}/cancel", 202)
    c.call("GET", r + "/actions/jobs/{job_id}/logs", f"{p}/actions/jobs/{job_id}/logs", 200)
    c.call("GET", r + "/actions/runs/{run_id}/logs", f"{p}/actions/runs/{run_id}/logs", 200)
    c.call("POST", r + "/actions/runs/{run_id}/rerun", f"{p}/actions/runs/{run_id}/rerun", 201)

    # Webhooks.
    hook = c.call(
        "POST",
        r + "/hooks",
        p + "/hooks",
        201,
        json={"config": {"url": HOOK_TARGET}, "events": ["*"]},
    )
    hook_id = hook["id"] if hook else 1
    h = f"{p}/hooks/{hook_id}"
    c.call("GET", r + "/hooks", p + "/hooks", 200)
    c.call("GET", r + "/hooks/{hook_id}", h, 200)
    c.call("PATCH", r + "/hooks/{hook_id}", h, 200, json={"events": ["push", "pull_request"]})
    c.call("POST", r + "/hooks/{hook_id}/pings", h + "/pings", 204)
    c.call("POST", r + "/hooks/{hook_id}/tests", h + "/tests", 204)
    deliveries = c.call("GET", r + "/hooks/{hook_id}/deliveries", h + "/deliveries", 200)
    delivery_id = deliveries[0]["id"] if deliveries else 1
    c.call(
        "GET", r + "/hooks/{hook_id}/deliveries/{delivery_id}", f"{h}/deliveries/{delivery_id}", 200
    )
    c.call(
        "POST",
        r + "/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
        f"{h}/deliveries/{delivery_id}/attempts",
        202,
    )
    c.call("DELETE", r + "/hooks/{hook_id}", h, 204)

    # Search (the code index as a push's background job leaves it; no worker runs in here).
    from sqlalchemy import select

    from forge.models import Repository
    from forge.search.code_index import index_code

    with database.session() as session:
        project = session.scalar(select(Repository).where(Repository.name == "project"))
        index_code(session, settings.repos_dir / "alice" / "project.git", project)
    found = c.call("GET", "/search/repositories", "/search/repositories?q=project", 200)
    assert found and found["items"], "the search story needs a repository to find"
    found = c.call("GET", "/search/issues", "/search/issues?q=two+is:pr+repo:alice/project", 200)
    assert found and found["items"], "the search story needs a pull request to find"
    found = c.call("GET", "/search/code", "/search/code?q=print+repo:alice/project", 200)
    assert found and found["items"], "the search story needs a file to find"
    c.call("GET", "/search/users", "/search/users?q=bob", 200)
    c.call("GET", "/search/code", "/search/code?q=x+repo:alice/nothing", 422)

    # Merging, forks, and what is left to take away.
    c.call(
        "PUT",
        r + "/branches/{branch}/protection",
        p + "/branches/main/protection",
        200,
        json={
            "required_status_checks": None,
            "enforce_admins": False,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    c.call("DELETE", r + "/branches/{branch}/protection", p + "/branches/main/protection", 204)
    # Merge at once rather than through the merge queue (forge's, which GitHub's REST lacks).
    gate = c.api("PUT", p + "/quality-gate", c.token, json={"enabled": False})
    assert gate.status_code == 200, gate.text
    c.call("PUT", r + "/pulls/{pull_number}/merge", pr + "/merge", 200, json={})
    c.call("GET", r + "/pulls/{pull_number}/merge", pr + "/merge", 204)
    c.call("POST", r + "/forks", p + "/forks", 202, token=c.bob_token, json={})
    c.call("GET", r + "/forks", p + "/forks", 200)
    c.call("GET", r, "/repos/bob/project", 200, token=c.bob_token)
    c.call("DELETE", r + "/collaborators/{username}", p + "/collaborators/bob", 204)
    c.call("GET", "/rate_limit", "/rate_limit", 200)
    c.call("DELETE", r, "/repos/alice/second", 204)

    _drive_organizations_and_teams(c)
    _drive_releases_and_stars(c)
    _drive_issues(c)

    assert not c.failures, f"{len(c.failures)} answers break GitHub's schema:\n  " + "\n  ".join(
        c.failures
    )
    # Every endpoint forge shares with GitHub was driven above.
    served = {
        (method.upper(), _shape(path))
        for path, item in load(FOLDER)["paths"].items()
        for method in METHODS
        if method in item and operation_key(method, path)
    }
    missing = sorted(served - c.driven)
    assert not missing, "endpoints GitHub also has that this test does not drive:\n  " + (
        "\n  ".join(f"{m} {s}" for m, s in missing)
    )


def _drive_releases_and_stars(c: Conformance) -> None:
    """A release of tag v1 with an asset uploaded to its upload_url, then taken away; bob
    stars alice/project."""
    r, p = "/repos/{owner}/{repo}", "/repos/alice/project"
    one = r + "/releases/{release_id}"
    release = c.call("POST", r + "/releases", p + "/releases", 201,
                     json={"tag_name": "v1", "name": "One", "body": "First **one**"})  # fmt: skip
    if release is None:
        return
    mine = f"{p}/releases/{release['id']}"
    upload = requests.post(
        release["upload_url"].split("{")[0], params={"name": "app.bin", "label": "The app"},
        data=b"\x00binary", headers={"Authorization": f"token {c.token}",
        "Content-Type": "application/octet-stream"}, timeout=30,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    for error in github_response_errors("POST", one + "/assets", 201, upload.json()):
        c.failures.append(f"POST {release['upload_url']} (201) {error}")
    asset = upload.json()["id"]
    c.call("GET", r + "/releases", p + "/releases", 200)
    c.call("GET", one, mine, 200)
    c.call("PATCH", one, mine, 200, json={"body": "First one, edited", "prerelease": False})
    c.call("GET", r + "/releases/latest", p + "/releases/latest", 200)
    c.call("GET", r + "/releases/tags/{tag}", p + "/releases/tags/v1", 200)
    c.call("GET", one + "/assets", mine + "/assets", 200)
    c.call("GET", r + "/releases/assets/{asset_id}", f"{p}/releases/assets/{asset}", 200)
    c.call("PATCH", r + "/releases/assets/{asset_id}", f"{p}/releases/assets/{asset}", 200,
           json={"label": "The app, renamed"})  # fmt: skip
    c.call("GET", r + "/zipball/{ref}", p + "/zipball/v1", 200)
    c.call("GET", r + "/tarball/{ref}", p + "/tarball/v1", 200)
    c.call("DELETE", r + "/releases/assets/{asset_id}", f"{p}/releases/assets/{asset}", 204)
    c.call("DELETE", one, mine, 204)

    starred = "/user/starred/{owner}/{repo}"
    c.call("PUT", starred, "/user/starred/alice/project", 204, token=c.bob_token)
    c.call("GET", starred, "/user/starred/alice/project", 204, token=c.bob_token)
    c.call("GET", r + "/stargazers", p + "/stargazers", 200)
    c.call("GET", "/user/starred", "/user/starred", 200, token=c.bob_token)
    c.call("GET", "/users/{username}/starred", "/users/bob/starred", 200)
    c.call("DELETE", starred, "/user/starred/alice/project", 204, token=c.bob_token)
    c.call("GET", starred, "/user/starred/alice/project", 404, token=c.bob_token)


def _drive_issues(c: Conformance) -> None:
    """An issue of alice/project with a label, a milestone, an assignee, a comment and
    reactions; edited, locked, closed; its events and timeline; then the label and milestone
    taken away."""
    r, p = "/repos/{owner}/{repo}", "/repos/alice/project"
    c.call("POST", r + "/labels", p + "/labels", 201, json={"name": "bug", "color": "d73a4a"})
    c.call("GET", r + "/labels", p + "/labels", 200)
    c.call("PATCH", r + "/labels/{name}", p + "/labels/bug", 200, json={"description": "Broken"})
    c.call("GET", r + "/labels/{name}", p + "/labels/bug", 200)
    milestone = c.call("POST", r + "/milestones", p + "/milestones", 201,
                       json={"title": "v1", "due_on": "2030-01-01T00:00:00Z"})  # fmt: skip
    if milestone is None:
        return
    m = f"{p}/milestones/{milestone['number']}"
    c.call("GET", r + "/milestones", p + "/milestones", 200)
    c.call("GET", r + "/milestones/{milestone_number}", m, 200)
    c.call("PATCH", r + "/milestones/{milestone_number}", m, 200, json={"description": "First"})
    issue = c.call("POST", r + "/issues", p + "/issues", 201,
                   json={"title": "Crash", "body": "It crashes", "labels": ["bug"],
                         "milestone": milestone["number"], "assignees": ["alice"]})  # fmt: skip
    if issue is None:
        return
    i, n = r + "/issues/{issue_number}", f"{p}/issues/{issue['number']}"
    c.call("GET", r + "/issues", p + "/issues", 200)
    c.call("GET", i, n, 200)
    c.call("PATCH", i, n, 200, json={"title": "Crash on start"})
    c.call("GET", i + "/labels", n + "/labels", 200)
    c.call("POST", i + "/labels", n + "/labels", 200, json={"labels": ["bug"]})
    c.call("PUT", i + "/labels", n + "/labels", 200, json={"labels": ["bug"]})
    c.call("DELETE", i + "/labels/{name}", n + "/labels/bug", 200)
    c.call("DELETE", i + "/labels", n + "/labels", 204)
    c.call("GET", r + "/assignees", p + "/assignees", 200)
    c.call("GET", r + "/assignees/{assignee}", p + "/assignees/alice", 204)
    c.call("DELETE", i + "/assignees", n + "/assignees", 200, json={"assignees": ["alice"]})
    c.call("POST", i + "/assignees", n + "/assignees", 201, json={"assignees": ["alice"]})
    comment = c.call("POST", i + "/comments", n + "/comments", 201, json={"body": "Seen it"})
    c.call("GET", i + "/comments", n + "/comments", 200)
    if comment is not None:
        cr = r + "/issues/comments/{comment_id}/reactions"
        mine = f"{p}/issues/comments/{comment['id']}/reactions"
        c.call("POST", cr, mine, 201, json={"content": "heart"})
        c.call("GET", cr, mine, 200)
    reaction = c.call("POST", i + "/reactions", n + "/reactions", 201, json={"content": "+1"})
    c.call("GET", i + "/reactions", n + "/reactions", 200)
    if reaction is not None:
        c.call("DELETE", i + "/reactions/{reaction_id}", f"{n}/reactions/{reaction['id']}", 204)
    c.call("PUT", i + "/lock", n + "/lock", 204, json={"lock_reason": "resolved"})
    c.call("DELETE", i + "/lock", n + "/lock", 204)
    c.call("PATCH", i, n, 200, json={"state": "closed", "state_reason": "not_planned"})
    events = c.call("GET", i + "/events", n + "/events", 200)
    if events:
        c.call("GET", r + "/issues/events/{event_id}", f"{p}/issues/events/{events[0]['id']}", 200)
    c.call("GET", i + "/timeline", n + "/timeline", 200)
    c.call("DELETE", r + "/milestones/{milestone_number}", m, 204)
    c.call("DELETE", r + "/labels/{name}", p + "/labels/bug", 204)


def _drive_organizations_and_teams(c: Conformance) -> None:
    """alice's organization acme, a private repository, a team giving bob a role on it."""
    r = "/repos/{owner}/{repo}"
    made = c.api("POST", "/admin/organizations", c.token, json={"login": "acme"})
    assert made.status_code == 201, made.text
    o, a = "/orgs/{org}", "/orgs/acme"
    c.call("GET", o, a, 200)
    c.call("PATCH", o, a, 200, json={"description": "Makers of engines"})
    c.call("GET", "/user/orgs", "/user/orgs", 200)
    c.call("GET", "/users/{username}/orgs", "/users/alice/orgs", 200)
    c.call("POST", o + "/repos", a + "/repos", 201, json={"name": "engine", "private": True})
    c.call("GET", o + "/repos", a + "/repos", 200)
    m = o + "/memberships/{username}"
    c.call("PUT", m, a + "/memberships/bob", 200, json={"role": "member"})
    c.call("GET", m, a + "/memberships/bob", 200)
    c.call("GET", o + "/members", a + "/members", 200)
    c.call("GET", o + "/members/{username}", a + "/members/bob", 204)
    t, team = o + "/teams/{team_slug}", a + "/teams/core"
    created = c.call(
        "POST",
        o + "/teams",
        a + "/teams",
        201,
        json={"name": "Core", "repo_names": ["acme/engine"], "permission": "push"},
    )
    c.call("GET", o + "/teams", a + "/teams", 200)
    c.call("GET", t, team, 200)
    c.call("PATCH", t, team, 200, json={"description": "The core", "privacy": "closed"})
    if created:
        c.call("GET", "/teams/{team_id}", f"/teams/{created['id']}", 200)
    tm = t + "/memberships/{username}"
    c.call("PUT", tm, team + "/memberships/bob", 200, json={"role": "member"})
    c.call("GET", tm, team + "/memberships/bob", 200)
    c.call("GET", t + "/members", team + "/members", 200)
    tr, engine = t + "/repos/{owner}/{repo}", team + "/repos/acme/engine"
    c.call("PUT", tr, engine, 204, json={"permission": "maintain"})
    c.call("GET", tr, engine, 204)
    accept = {"Accept": "application/vnd.github.v3.repository+json"}
    c.call("GET", tr, engine, 200, headers=accept)
    c.call("GET", t + "/repos", team + "/repos", 200)
    c.call("GET", r + "/teams", "/repos/acme/engine/teams", 200)
    c.call("GET", r, "/repos/acme/engine", 200, token=c.bob_token)  # through the team
    c.call("DELETE", tr, engine, 204)
    c.call("DELETE", tm, team + "/memberships/bob", 204)
    c.call("DELETE", o + "/members/{username}", a + "/members/bob", 204)
    c.call("PUT", m, a + "/memberships/bob", 200, json={})
    c.call("DELETE", m, a + "/memberships/bob", 204)
    c.call("GET", r, "/repos/acme/engine", 404, token=c.bob_token)  # out of the organization
    c.call("DELETE", t, team, 204)


def _endpoints_doc():
    """tests/github_schemas/endpoints_doc.py, a script rather than a module of the suite."""
    path = Path(__file__).parent / "github_schemas" / "endpoints_doc.py"
    spec = importlib.util.spec_from_file_location("endpoints_doc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_api_md_lists_what_forge_serves_and_is_up_to_date():
    doc = _endpoints_doc()
    written = doc.render(json.loads(doc.DESCRIPTION.read_text()), doc.forge_operations())
    committed = doc.OUTPUT.read_text()
    assert committed == written, (
        "docs/api.md is out of date with forge's routes or GitHub's description: "
        "run `python tests/github_schemas/endpoints_doc.py` and commit docs/api.md"
    )
    rows = {line for line in committed.splitlines() if line.startswith("| ")}
    assert "| yes | GET | `/repos/{owner}/{repo}` | Get a repository (`repos/get`) |" in rows
    assert "| yes | GET | `/repos/{owner}/{repo}/issues` | List repository issues " in {
        row[: len("| yes | GET | `/repos/{owner}/{repo}/issues` | List repository issues ")]
        for row in rows
    }
    assert "| no | GET | `/repos/{owner}/{repo}/actions/artifacts` | List artifacts for a " in {
        row[: len("| no | GET | `/repos/{owner}/{repo}/actions/artifacts` | List artifacts for a ")]
        for row in rows
    }  # what forge does not serve is listed too
    assert any(
        row.startswith("| PUT | `/repos/{owner}/{repo}/pulls/{pull_number}/votes`")
        or row.startswith("| POST | `/repos/{owner}/{repo}/pulls/{pull_number}/votes`")
        for row in rows
    ), "forge's own endpoints are listed too"


def test_the_checker_names_what_breaks_githubs_schema():
    """The harness can fail: an answer without GitHub's fields, with a field of the wrong
    type, or from an operation the vendored description lacks, is caught and named."""
    errors = github_response_errors("GET", "/repos/{owner}/{repo}", 200, {"id": "one"})
    assert "$: 'archive_url' is a required property" in errors
    assert "$.id: 'one' is not of type 'integer'" in errors
    user = {"login": "alice", "id": 1, "avatar_url": ""}
    assert "$.avatar_url: '' is not a 'uri'" in github_response_errors(
        "GET", "/users/{username}", 200, user
    )
    assert github_response_errors("GET", "/repos/{owner}/{repo}", 418, {}) == [
        "GitHub documents no 418 answer for GET /repos/{owner}/{repo} (it has 200, 301, 403, 404)"
    ]
    with pytest.raises(AssertionError, match="not in the vendored GitHub description"):
        github_response_errors("GET", "/repos/{owner}/{repo}/wiki", 200, {})
