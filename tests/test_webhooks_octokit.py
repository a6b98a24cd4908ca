"""Octokit's own webhook verifier (`@octokit/webhooks` in node) on deliveries forge made: a
receiver written for GitHub accepts forge's signatures and hands on its events.

The package is installed by npm into a directory named by FORGE_OCTOKIT_WEBHOOKS (.ci/run does
it; by hand: `npm install --prefix /tmp/octokit-webhooks @octokit/webhooks@14` and
`export FORGE_OCTOKIT_WEBHOOKS=/tmp/octokit-webhooks`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.webhooks import SECRET, drain, loopback_settings, make_hook

OCTOKIT_DIR = os.environ.get("FORGE_OCTOKIT_WEBHOOKS", "")
VERIFIER = Path(__file__).parent / "support" / "octokit_verify.mjs"

pytestmark = pytest.mark.skipif(
    not (OCTOKIT_DIR and shutil.which("node")),
    reason="needs node and FORGE_OCTOKIT_WEBHOOKS (a directory where npm installed "
    "@octokit/webhooks; .ci/run sets it)",
)


@pytest.fixture
def settings(settings):
    return loopback_settings(settings)


def octokit_verdicts(requests, secret: str = SECRET) -> list[dict]:
    """What @octokit/webhooks' verify and verifyAndReceive say of each received request."""
    deliveries = [
        {
            "id": r.headers["X-GitHub-Delivery"],
            "name": r.event,
            "body": r.body.decode("utf-8"),
            "signature": r.headers["X-Hub-Signature-256"],
        }
        for r in requests
    ]
    done = subprocess.run(
        ["node", str(VERIFIER), OCTOKIT_DIR],
        input=json.dumps({"secret": secret, "deliveries": deliveries}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_octokit_verifies_and_receives_every_delivery(
    github, hosted_repo, receiver, settings, git, tmp_path, api
):
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# café\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    repo, hook = make_hook(github, info, receiver, settings)
    hook.ping()
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    head = git.commit(work, {"README.md": "# café\nnaïve line\n"}, "Ünïcode in a message")
    git.run("push", "-q", info.push_url, "topic", cwd=work)
    pull = repo.create_pull(title="Ünïcode ✓", body="naïve", base="main", head="topic")
    pull.create_issue_comment("looks fine — merci")
    pull.create_review(body="notes", event="COMMENT",
                       comments=[{"path": "README.md", "line": 2, "body": "ok"}])  # fmt: skip
    status = {"state": "success", "context": "ci/test"}
    assert api("POST", f"/repos/alice/project/statuses/{head}", info.token, json=status).ok
    drain(settings, lambda: receiver.events("status"))

    names = {r.event for r in receiver.requests}
    assert {"ping", "push", "create", "pull_request", "issue_comment", "pull_request_review",
            "pull_request_review_comment", "status"} <= names  # fmt: skip
    verdicts = octokit_verdicts(receiver.requests)
    refused = [v for v in verdicts if not (v["verified"] and v["received"])]
    assert not refused, refused
    assert len(verdicts) == len(receiver.requests)


def test_octokit_refuses_a_delivery_whose_body_or_secret_differs(
    github, hosted_repo, receiver, settings
):
    """The check above can fail: a body changed on the way, or the wrong secret, is refused."""
    info = hosted_repo()
    _repo, hook = make_hook(github, info, receiver, settings)
    hook.ping()
    drain(settings, lambda: receiver.events("ping"))
    [ping] = receiver.events("ping")
    tampered = type(ping)(ping.headers, ping.body.replace(b'"zen":"', b'"zen":"!'))
    [changed] = octokit_verdicts([tampered])
    assert not changed["verified"] and not changed["received"]
    assert "signature does not match" in changed["error"]
    [wrong_secret] = octokit_verdicts([ping], secret="not the secret")
    assert not wrong_secret["verified"] and not wrong_secret["received"]
    [genuine] = octokit_verdicts([ping])
    assert genuine["verified"] and genuine["received"]
