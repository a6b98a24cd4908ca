"""GitHub's own clients against forge, used as their users use them against GitHub: github3.py
(which failed on every user and repository until their shapes were GitHub's) for users,
repositories, pull requests, reviews and statuses, PyGithub for the fields forge used to leave
empty (avatars, forks, a branch's commit, the search limit), and the GitHub CLI's `gh api` over
HTTPS, its only way to an enterprise host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import github3
import pytest
import requests
from werkzeug.serving import make_server


@pytest.fixture
def project(hosted_repo, git, tmp_path, make_user, make_token, api):
    """alice/project with main and a branch `feature` one commit ahead; bob may push."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n", "src/app.py": "print(1)\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    head = git.commit(work, {"src/app.py": "print(2)\n"}, "Print two")
    git.run("push", repo.push_url, "feature", cwd=work)
    make_user("bob")
    added = api("PUT", "/repos/alice/project/collaborators/bob", repo.token, json={})
    assert added.status_code == 201, added.text
    # Merges land at once here rather than through forge's merge queue.
    gate = api("PUT", "/repos/alice/project/quality-gate", repo.token, json={"enabled": False})
    assert gate.status_code == 200, gate.text
    return repo, head, make_token("bob")


def test_github3_drives_users_repositories_pulls_reviews_and_statuses(project, live_server):
    repo, head, bob_token = project
    alice = github3.GitHubEnterprise(live_server, token=repo.token)
    bob = github3.GitHubEnterprise(live_server, token=bob_token)

    me = alice.me()
    assert (me.login, me.email) == ("alice", "alice@example.org")
    assert me.avatar_url == f"{live_server}/avatars/alice.png"
    profile = alice.user("bob")
    assert (profile.login, profile.public_repos_count, profile.followers_count) == ("bob", 0, 0)

    created = alice.create_repository("tools", description="Small tools", private=True)
    assert (created.full_name, created.private) == ("alice/tools", True)
    assert created.clone_url == f"{live_server}/alice/tools.git"
    assert sorted(r.name for r in alice.repositories()) == ["project", "tools"]
    assert sorted(r.name for r in bob.repositories_by("alice")) == ["project"]

    project_repo = alice.repository("alice", "project")
    assert (project_repo.owner.login, project_repo.default_branch) == ("alice", "main")
    assert project_repo.fork is False
    assert sorted(b.name for b in project_repo.branches()) == ["feature", "main"]
    feature = project_repo.branch("feature")
    assert feature.commit.sha == head
    assert feature.commit.commit.message == "Print two"

    status = project_repo.create_status(
        head, "success", target_url="http://ci.example.org/7", description="ok", context="ci"
    )
    assert (status.state, status.context, status.creator.login) == ("success", "ci", "alice")
    assert [s.context for s in project_repo.statuses(head)] == ["ci"]
    combined = project_repo.commit(head).status()
    assert (combined.state, combined.total_count) == ("success", 1)

    pull = project_repo.create_pull("Print two", "main", "feature", body="Prints 2")
    assert (pull.number, pull.state, pull.user.login) == (1, "open", "alice")
    assert [c.sha for c in pull.commits()] == [head]
    assert [f.filename for f in pull.files()] == ["src/app.py"]

    bobs_view = bob.pull_request("alice", "project", pull.number)
    review = bobs_view.create_review(
        "Looks right",
        event="APPROVE",
        comments=[{"path": "src/app.py", "line": 1, "body": "Two, yes"}],
    )
    assert (review.state, review.user.login) == ("APPROVED", "bob")
    assert [(r.user.login, r.state) for r in pull.reviews()] == [("bob", "APPROVED")]
    assert [c.body for c in pull.review_comments()] == ["Two, yes"]

    assert pull.merge(commit_message="Print two") is True
    merged = alice.pull_request("alice", "project", pull.number)
    assert merged.is_merged() and merged.merged_by.login == "alice"
    assert project_repo.branch("main").commit.sha == merged.merge_commit_sha


# --- the GitHub CLI -------------------------------------------------------------------------


@pytest.fixture
def https_server(app, tmp_path):
    """The app over HTTPS with a certificate made for 127.0.0.1: `gh` speaks only HTTPS to a
    host that is not github.com. Returns (host:port, the certificate's file)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", cert
    server.shutdown()
    thread.join(timeout=10)


def test_gh_api_works_against_forge_and_graphql_commands_say_where_they_stop(
    https_server, make_user, make_token, tmp_path
):
    assert shutil.which("gh"), "the GitHub CLI (Debian's gh) is missing: .ci/run installs it"
    host, cert = https_server
    make_user("alice")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GH_CONFIG_DIR": str(tmp_path / "gh"),
        "GH_HOST": host,
        "GH_ENTERPRISE_TOKEN": make_token("alice"),
        "SSL_CERT_FILE": str(cert),
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
    }

    def gh(*args):
        return subprocess.run(
            ["gh", *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    me = gh("api", "user")
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["login"] == "alice"
    created = gh("api", "user/repos", "-f", "name=demo", "-F", "private=false", "--jq", ".url")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"https://{host}/api/v3/repos/alice/demo"
    changed = gh("api", "-X", "PATCH", "repos/alice/demo", "-f", "description=Hello")
    assert json.loads(changed.stdout)["description"] == "Hello"
    listed = gh("api", "--paginate", "user/repos", "--jq", ".[].full_name")
    assert listed.stdout.split() == ["alice/demo"]
    missing = gh("api", "repos/alice/nothing-here")
    assert missing.returncode == 1
    assert "Not Found (HTTP 404)" in missing.stderr

    # gh's own commands ask GitHub's GraphQL API, which forge does not have (docs/api.md).
    viewed = gh("repo", "view", "alice/demo")
    assert viewed.returncode != 0
    assert "HTTP 404: forge serves GitHub's REST API under /api/v3, not its GraphQL API" in (
        viewed.stderr
    )
    assert "gh api PATH" in viewed.stderr


def test_pygithub_reads_the_fields_github_clients_rely_on(project, github, live_server):
    repo, head, bob_token = project
    alice = github(repo.token)
    me = alice.get_user()
    picture = requests.get(me.avatar_url, timeout=30)
    assert (picture.status_code, picture.headers["Content-Type"]) == (200, "image/png")

    github(bob_token).get_repo("alice/project").create_fork()
    project_repo = alice.get_repo("alice/project")
    assert (project_repo.forks_count, project_repo.network_count) == (1, 1)
    assert project_repo.svn_url == project_repo.html_url == f"{live_server}/alice/project"
    assert project_repo.ssh_url == "", "forge serves git over HTTP only"
    assert project_repo.commits_url == f"{live_server}/api/v3/repos/alice/project/commits{{/sha}}"

    feature = project_repo.get_branch("feature")
    assert (feature.commit.sha, feature.commit.commit.message) == (head, "Print two")
    assert feature.commit.author is None, "the commit's e-mail belongs to no account here"
    assert feature.protected is False
    assert feature.raw_data["protection"]["enabled"] is False

    limits = alice.get_rate_limit()
    assert limits.resources.core.limit == 5000
    assert limits.resources.search.limit == 0, "forge has no search API"
