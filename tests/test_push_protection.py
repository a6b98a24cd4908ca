"""Push protection: a push carrying a credential is refused whole with `remote:` lines naming
its kind, file, line and commit and a link; the pusher allows the secret there (in Chromium)
and the same push goes through; admins switch it per repository; huge files are skipped with
a note; a secret already on the server is not reported again. All with the real git client."""

from __future__ import annotations

import re
import secrets

import pytest
from conftest import form_post
from playwright.sync_api import expect
from support.browser import shot, sign_in

from forge.accounts import users as accounts
from forge.models import SecretBypass
from forge.repos import repositories as repo_service

# An AWS access key id as gitleaks' rule describes one (AKIA and 16 base-32 characters), made
# up: not AWS's documented AKIAIOSFODNN7EXAMPLE, which gitleaks' allowlist lets through.
AWS_KEY = "AKIAZ7VRSQ5TJN4X2KWB"
SETTINGS_PY = f'DEBUG = False\n\nAWS_ACCESS_KEY_ID = "{AWS_KEY}"\n'


def remote_lines(stderr: str) -> list[str]:
    return [
        line[len("remote: ") :].rstrip()
        for line in stderr.splitlines()
        if line.startswith("remote: ")
    ]


def unblock_link(stderr: str) -> str:
    match = re.search(r"to allow this secret: (\S+)", stderr)
    assert match, stderr
    return match.group(1)


def clone_with_readme(git, tmp_path, info) -> tuple:
    work = git.init(tmp_path / "work")
    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    return work, git.head(work)


def server_refs(git, info) -> str:
    return git.run("ls-remote", info.push_url).stdout


def test_a_push_with_an_aws_key_is_refused_whole_with_its_place_and_a_link(
    hosted_repo, git, tmp_path, live_server
):
    info = hosted_repo()
    work, first = clone_with_readme(git, tmp_path, info)
    before = server_refs(git, info)
    secret_commit = git.commit(work, {"config/settings.py": SETTINGS_PY}, "settings")
    git.commit(work, {"NOTES.md": "later work\n"}, "notes")
    pushed = git.run(
        "push", info.push_url, "HEAD:refs/heads/main", "HEAD:refs/heads/feature", cwd=work,
        check=False,
    )  # fmt: skip
    assert pushed.returncode != 0
    lines = remote_lines(pushed.stderr)
    link = unblock_link(pushed.stderr)
    assert link.startswith(f"{live_server}/alice/project/security/secret-scanning/unblock-secret/")
    assert lines == [
        "error: push protection: this push contains secrets; nothing was changed.",
        "",
        "  AWS access key",
        f"    config/settings.py:3 (commit {secret_commit[:12]})",
        f"    to allow this secret: {link}",
        "",
        "Remove the secrets from the commits (git commit --amend, or git rebase -i for",
        "older ones) and push again; or, if a secret is a false positive, used in tests",
        "or one you will fix later, allow it at its link and push again.",
    ]
    # Both refs rejected; nothing moved, no new branch, the secret's objects not kept.
    assert "[remote rejected] HEAD -> main" in pushed.stderr
    assert "[remote rejected] HEAD -> feature" in pushed.stderr
    assert server_refs(git, info) == before
    assert first in before
    clone = tmp_path / "clone"
    git.run("clone", "-q", "--mirror", info.push_url, str(clone))
    missing = git.run("cat-file", "-e", secret_commit, cwd=clone, check=False)
    assert missing.returncode != 0


def test_a_forge_token_is_caught_and_a_clean_push_passes(hosted_repo, git, tmp_path, make_token):
    info = hosted_repo()
    work, _ = clone_with_readme(git, tmp_path, info)
    clean = git.commit(work, {"app.py": "print('hello')\nTOKEN = os.environ['FORGE_TOKEN']\n"}, "c")
    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    assert clean in server_refs(git, info)

    token = make_token("alice")  # a real one, as forge mints them
    leaked = git.commit(work, {"deploy/env": f"# ci\nexport FORGE_TOKEN={token}\n"}, "deploy")
    pushed = git.run("push", info.push_url, "HEAD:refs/heads/main", cwd=work, check=False)
    assert pushed.returncode != 0
    assert "  forge personal access token" in remote_lines(pushed.stderr)
    assert f"    deploy/env:2 (commit {leaked[:12]})" in remote_lines(pushed.stderr)
    assert token not in pushed.stderr  # the refusal never repeats the secret
    assert leaked not in server_refs(git, info)


def test_an_upload_to_refs_for_is_scanned_too(hosted_repo, git, tmp_path):
    info = hosted_repo()
    work, first = clone_with_readme(git, tmp_path, info)
    git.install_change_id_hook(work)
    key = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    commit = git.commit(work, {"ci.sh": f"curl -H 'Authorization: token {key}'\n"}, "ci")
    pushed = git.run("push", info.push_url, "HEAD:refs/for/main", cwd=work, check=False)
    assert pushed.returncode != 0
    lines = remote_lines(pushed.stderr)
    assert "  GitHub personal access token" in lines
    assert f"    ci.sh:1 (commit {commit[:12]})" in lines
    assert "refs/changes/" not in server_refs(git, info)


def test_the_contents_api_refuses_a_file_with_a_secret(hosted_repo, git, tmp_path, api):
    import base64

    info = hosted_repo()
    clone_with_readme(git, tmp_path, info)
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAA" * 4 + "\n"
    key += "-----END OPENSSH PRIVATE KEY-----\n"
    body = {"message": "add key", "content": base64.b64encode(key.encode()).decode()}
    answer = api("PUT", "/repos/alice/project/contents/id_ed25519", info.token, json=body)
    assert answer.status_code == 409, answer.text
    assert "Private key" in answer.json()["message"]
    assert "id_ed25519:1" in answer.json()["message"]
    assert api("GET", "/repos/alice/project/contents/id_ed25519", info.token).status_code == 404


def test_an_admin_switches_it_off_for_a_repository_and_the_push_passes(
    hosted_repo, git, tmp_path, client, login
):
    info = hosted_repo()
    work, _ = clone_with_readme(git, tmp_path, info)
    commit = git.commit(work, {"config/settings.py": SETTINGS_PY}, "settings")
    refused = git.run("push", info.push_url, "HEAD:refs/heads/main", cwd=work, check=False)
    assert refused.returncode != 0

    login("alice")
    page = "/alice/project/settings/push-protection"
    assert "Now <strong>on</strong>" in client.get(page).get_data(as_text=True)
    assert form_post(client, page, page, {"setting": "off"}).status_code == 302
    assert "Now <strong>off</strong>" in client.get(page).get_data(as_text=True)
    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    assert commit in server_refs(git, info)


def test_only_admins_see_the_switch_and_a_post_without_csrf_changes_nothing(
    hosted_repo, app, client, login, make_user, database
):
    hosted_repo()
    make_user("bob")
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        repo = repo_service.find_repository(session, "alice", "project")
        repo_service.set_collaborator(session, repo, alice, "bob", "write")
    login("bob")
    page = "/alice/project/settings/push-protection"
    assert client.get(page).status_code == 403
    admin = login("alice", test_client=app.test_client())
    assert admin.post(page, data={"setting": "off"}).status_code == 400
    with database.session() as session:
        assert repo_service.find_repository(session, "alice", "project").push_protection is None


def test_a_huge_file_is_skipped_with_a_note_and_not_scanned(hosted_repo, git, tmp_path):
    info = hosted_repo()
    work, _ = clone_with_readme(git, tmp_path, info)
    # 2 MiB of text with a key at its end: over the bound, so it is not read for secrets.
    filler = ("x" * 99 + "\n") * (2 * 1024 * 1024 // 100)
    commit = git.commit(work, {"data/dump.sql": filler + SETTINGS_PY}, "dump")
    pushed = git.run("push", info.push_url, "HEAD:refs/heads/main", cwd=work)
    assert (
        "push protection: 1 file(s) over 1 MiB not scanned for secrets: data/dump.sql"
        in remote_lines(pushed.stderr)
    )
    assert commit in server_refs(git, info)


def test_a_secret_already_on_the_server_is_not_reported_again(hosted_repo, git, tmp_path, database):
    info = hosted_repo()
    with database.session() as session:
        repo = repo_service.find_repository(session, "alice", "project")
        repo.push_protection = False
    work, _ = clone_with_readme(git, tmp_path, info)
    git.commit(work, {"config/settings.py": SETTINGS_PY}, "an old mistake")
    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    with database.session() as session:
        repo_service.find_repository(session, "alice", "project").push_protection = True

    # On top of it, and a new branch from it: neither brings the old key again.
    later = git.commit(work, {"README.md": "# hello again\n"}, "docs")
    pushed = git.run(
        "push", info.push_url, "HEAD:refs/heads/main", "HEAD:refs/heads/topic", cwd=work
    )
    assert "push protection" not in pushed.stderr
    assert later in server_refs(git, info)
    # A new secret in the same push as old ones is still caught, and only it.
    fresh = git.commit(work, {"stripe.txt": "sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"}, "pay")
    refused = git.run("push", info.push_url, "HEAD:refs/heads/main", cwd=work, check=False)
    lines = remote_lines(refused.stderr)
    assert "  Stripe API key" in lines and "  AWS access key" not in lines
    assert f"    stripe.txt:1 (commit {fresh[:12]})" in lines


def test_in_a_browser_the_pusher_allows_the_secret_and_the_same_push_passes(
    browser, live_server, hosted_repo, git, tmp_path, database, make_user
):
    info = hosted_repo()
    work, _ = clone_with_readme(git, tmp_path, info)
    commit = git.commit(work, {"config/settings.py": SETTINGS_PY}, "settings")
    refused = git.run("push", info.push_url, "HEAD:refs/heads/main", cwd=work, check=False)
    link = unblock_link(refused.stderr)

    # The link is the pusher's: another signed-in user cannot use it.
    make_user("mallory")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "mallory")
    assert page.goto(link).status == 403  # a public repository, but not their link
    expect(page.locator("main")).to_contain_text("only they may use it")
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(link)
    expect(page.locator("main")).to_contain_text("AWS access key")
    expect(page.locator("main")).to_contain_text("config/settings.py:3")
    page.get_by_label("It's used in tests").check()
    shot(page, "push-protection-allow")
    page.get_by_role("button", name="Allow me to push this secret").click()
    expect(page.locator("main")).to_contain_text("Secret allowed")
    expect(page.locator("main")).to_contain_text("This secret is allowed in alice/project")

    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    assert commit in server_refs(git, info)

    # The admins' list says who allowed what, and why.
    page.goto(f"{live_server}/alice/project/settings/push-protection")
    row = page.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("AWS access key")
    expect(row).to_contain_text("config/settings.py:3")
    expect(row).to_contain_text("alice")
    expect(row).to_contain_text("It's used in tests")
    shot(page, "push-protection-settings")
    context.close()
    with database.session() as session:
        (bypass,) = session.query(SecretBypass).all()
        assert bypass.reason == "used_in_tests" and bypass.commit_sha == commit
        assert AWS_KEY not in (bypass.fingerprint + bypass.path)


def test_a_link_forge_did_not_sign_is_refused(hosted_repo, client, login):
    hosted_repo()
    login("alice")
    forged = "WzEsMSwiYWJjIiwiYXdzIiwiQVdTIiwiYSIsMSwiYyJd." + secrets.token_urlsafe(18)
    answer = client.get(f"/alice/project/security/secret-scanning/unblock-secret/{forged}")
    assert answer.status_code == 400
    assert "not one forge gave" in answer.get_data(as_text=True)


# Made-up credentials of each kind the issue names, shaped as their issuers document them.
SAMPLES = {
    "gitlab-pat": "GITLAB_TOKEN=glpat-Xq3vR8kLm2Np7Ts4Wy9B",
    "slack-bot-token": "slack: xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack-webhook-url": "https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/"
    + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
    "stripe-access-token": "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
    "gcp-api-key": "key=AIzaSyD9x8Qm2Lk7VbN4rT6wP1cZ3hJ5fG8aEsK ",
    "github-fine-grained-pat": "github_pat_11ABCDEFG0"
    + "aB3dE5fG7hJ9kL1mN3pQ5r" * 3
    + "xY3zA5bC7dE9",
    "private-key": "-----BEGIN EC PRIVATE KEY-----\n"
    + "MHcCAQEEIB" * 8
    + "\n-----END EC PRIVATE KEY-----",
}


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_each_kind_is_found_on_its_line(rule_id):
    from forge.repos.secret_scanning import find_secrets

    text = f"first line\n{SAMPLES[rule_id]}\n"
    (found,) = find_secrets(text.encode())
    assert (found.rule_id, found.line) == (rule_id, 2)


def test_documented_examples_and_low_entropy_lookalikes_pass():
    from forge.repos.secret_scanning import find_secrets

    text = (
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"  # AWS's own documentation's key
        "token = ghp_000000000000000000000000000000000000\n"  # entropy 0
        "see forge_tokens_are_described_in_the_readme_here_ok\n"  # not 40 characters after it
    )
    assert find_secrets(text.encode()) == []


def test_past_the_budget_the_oldest_files_go_unscanned_and_the_newest_are_scanned(git, tmp_path):
    from dulwich.repo import Repo

    from forge.git.refs import ZERO, RefUpdate
    from forge.repos.push_protection import scan_updates

    work = git.init(tmp_path / "history", {"old.txt": "o" * 4000 + "\n"})
    git.commit(work, {"older-key.txt": f"{AWS_KEY}\n" + "p" * 4000 + "\n"}, "old key")
    newest = git.commit(work, {"new.env": "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"}, "new")
    update = RefUpdate("refs/heads/main", ZERO, newest)
    # Into an empty repository's view: every file is new, the first push of a history.
    bare = tmp_path / "bare.git"
    git.run("clone", "-q", "--bare", str(work), str(bare))
    repo = Repo(str(bare))
    for ref in list(repo.refs.keys()):
        if ref.startswith(b"refs/"):
            del repo.refs[ref]
    scan = scan_updates(repo, [update], max_scanned_bytes=1000)
    assert [(f.kind, f.path) for f in scan.findings] == [("Stripe API key", "new.env")]
    assert scan.unscanned == 2
    whole = scan_updates(repo, [update])
    assert {f.path for f in whole.findings} == {"new.env", "older-key.txt"}


def test_the_api_switches_it_as_github_does_and_shows_it_to_admins_only(
    hosted_repo, git, tmp_path, github, make_user, make_token, api
):
    info = hosted_repo()
    work, _ = clone_with_readme(git, tmp_path, info)
    repo = github(info.token).get_repo("alice/project")
    status = repo.raw_data["security_and_analysis"]["secret_scanning_push_protection"]["status"]
    assert status == "enabled"
    repo.edit(security_and_analysis={"secret_scanning_push_protection": {"status": "disabled"}})
    analysis = repo.security_and_analysis.secret_scanning_push_protection
    assert analysis.status == "disabled"
    commit = git.commit(work, {"config/settings.py": SETTINGS_PY}, "settings")
    git.run("push", "-q", info.push_url, "HEAD:refs/heads/main", cwd=work)
    assert commit in server_refs(git, info)

    # A wrong value changes nothing, not even the fields beside it.
    body = {"description": "x", "security_and_analysis": {"secret_scanning_push_protection": {}}}
    answer = api("PATCH", "/repos/alice/project", info.token, json=body)
    assert answer.status_code == 422 and "enabled or disabled" in answer.json()["message"]
    assert api("GET", "/repos/alice/project", info.token).json()["description"] is None

    make_user("bob")  # a reader: no security_and_analysis, as on GitHub
    reader = api("GET", "/repos/alice/project", make_token("bob")).json()
    assert "security_and_analysis" not in reader
