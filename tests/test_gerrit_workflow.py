"""Gerrit's workflow with git-review as the client, end to end: `git review -s` installs
forge's commit-msg hook, `git review` uploads (chains of commits become chains of changes),
`git review -d N` downloads a patch set, `git review -l` lists; topics, who may upload, chains
and their rebase, and the /changes/ search git-review asks (tests/test_gerrit_push_options.py
has the push options).

Everything runs the real `git`, the real git-review from PyPI and a live forge server."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests
from conftest import authed, forge_cli, form_post
from github import GithubException
from sqlalchemy import select
from support.gerrit import (
    alice_token,
    change_id,
    changes_in,
    gerrit_changes,
    git_review,
    install_hook,
)

from forge.accounts import users as accounts
from forge.models import Change, Repository
from forge.review import inbox
from forge.worker import RECONCILERS

# --- the hook and Change-Id ---------------------------------------------------------------------


@pytest.fixture
def project(gerrit_project):
    """alice's repository with a .gitreview, her clone and stranger bob's (support.gerrit)."""
    return gerrit_project


def test_git_review_setup_installs_a_hook_that_adds_one_change_id_kept_on_amend(git, project):
    install_hook(git, project.bob)
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    first = change_id(git, project.bob)
    assert first.startswith("I") and len(first) == 41
    git.run("commit", "-q", "--amend", "--no-edit", cwd=project.bob)
    git.run(
        "commit", "-q", "--amend", "-m", f"Greet briefly\n\nChange-Id: {first}", cwd=project.bob
    )
    message = git.run("log", "-1", "--format=%B", cwd=project.bob).stdout
    assert message.count("Change-Id:") == 1 and change_id(git, project.bob) == first
    git.commit(project.bob, {"b.txt": "b\n"}, "Another commit")
    assert change_id(git, project.bob) != first


def test_push_without_change_id_is_refused_with_the_command_that_installs_the_hook(
    git, project, database
):
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "No hook yet")
    out = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob, check=False)
    assert out.returncode != 0
    assert "has no Change-Id in its message" in out.stderr
    hint = next(line for line in out.stderr.splitlines() if "curl" in line)
    command = hint.split("hint:", 1)[1].strip()
    assert f"{project.live_server}/tools/hooks/commit-msg" in command
    assert changes_in(database) == []
    # The hint, run as written in the clone, installs the hook; an amend adds the Change-Id.
    subprocess.run(["sh", "-c", command], cwd=project.bob, env=git.env, check=True, timeout=60)
    git.run("commit", "-q", "--amend", "--no-edit", cwd=project.bob)
    pushed = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    assert "Created change #1: No hook yet" in pushed.stderr


def test_a_repository_may_accept_commits_without_change_id(git, project, database, app, login):
    # alice unticks the setting on the repository's settings page.
    alice = login("alice", test_client=app.test_client())
    page = alice.get("/alice/project/settings").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="require_change_id"[^>]*>', page).group(0)
    assert "checked" in box  # on by default
    saved = form_post(alice, "/alice/project/settings", "/alice/project/settings",
                      {"name": "project", "description": "", "default_branch": "main"})  # fmt: skip
    assert saved.status_code == 302
    with database.session() as session:
        assert session.scalars(select(Repository)).one().require_change_id is False
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "No Change-Id")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    git.run("commit", "-q", "--amend", "-m", "No Change-Id, again", cwd=project.bob)
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    # Without a Change-Id nothing says the second is the first again: two changes.
    assert [row[:4] for row in changes_in(database)] == [
        (1, "No Change-Id", "bob", 1),
        (2, "No Change-Id, again", "bob", 1),
    ]


def test_an_admin_turns_require_change_id_off_through_the_api(git, project, make_token):
    api = f"{project.live_server}/api/v3/repos/alice/project"

    def call(method, token, **body):
        headers = {"Authorization": f"token {token}"}
        return requests.request(method, api, json=body or None, headers=headers, timeout=30)

    bob = make_token("bob")
    assert call("GET", bob).json()["require_change_id"] is True  # readers see it
    refused = call("PATCH", bob, require_change_id=False)  # bob may read, not administer
    assert refused.status_code == 403, refused.text
    bad = call("PATCH", project.token, require_change_id="no")
    assert bad.status_code == 422 and "require_change_id must be a bool" in bad.text
    assert call("GET", bob).json()["require_change_id"] is True  # neither changed anything
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "No Change-Id")
    pushed = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob, check=False)
    assert pushed.returncode != 0 and "Change-Id" in pushed.stderr

    changed = call("PATCH", project.token, require_change_id=False)
    assert changed.status_code == 200 and changed.json()["require_change_id"] is False
    assert call("GET", bob).json()["require_change_id"] is False
    pushed = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    assert "Created change #1: No Change-Id" in pushed.stderr


# --- git review: upload, chains, download, list ----------------------------------------------


def test_git_review_uploads_then_amends_into_a_second_patch_set(git, project, database):
    install_hook(git, project.bob)
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    out = git_review(git, project.bob)
    assert "Created change #1: Greet briefly" in out.stdout + out.stderr
    git.commit(project.bob, {"app.py": "print('hi!')\n"}, "ignored")  # a fixup, squashed next
    git.run("reset", "-q", "--soft", "HEAD~1", cwd=project.bob)
    git.run("commit", "-q", "--amend", "--no-edit", cwd=project.bob)
    out = git_review(git, project.bob)
    assert "Updated change #1 (patch set 2): Greet briefly" in out.stdout + out.stderr
    assert changes_in(database) == [(1, "Greet briefly", "bob", 2, None, None)]


def test_a_chain_of_three_commits_opens_three_dependent_changes(git, project, database):
    install_hook(git, project.bob)
    for n in (1, 2, 3):
        git.commit(project.bob, {f"step{n}.txt": f"{n}\n"}, f"Step {n}")
    out = git_review(git, project.bob, "-y")
    said = out.stdout + out.stderr
    assert [f"Created change #{n}: Step {n}" in said for n in (1, 2, 3)] == [True] * 3
    assert changes_in(database) == [
        (1, "Step 1", "bob", 1, None, None),
        (2, "Step 2", "bob", 1, 1, None),
        (3, "Step 3", "bob", 1, 2, None),
    ]
    # Amending the middle commit (as an interactive rebase's "edit" does) updates #2 and,
    # rebased on it, #3; #1 did not change and gets no new patch set.
    step3 = git.head(project.bob)
    git.run("checkout", "-q", "-b", "redo", "HEAD~1", cwd=project.bob)
    (project.bob / "step2.txt").write_text("2, better\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    git.run("cherry-pick", step3, cwd=project.bob)
    out = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    assert "Updated change #2 (patch set 2)" in out.stderr
    assert "Updated change #3 (patch set 2)" in out.stderr
    assert "change #1" not in out.stderr
    assert [row[3:5] for row in changes_in(database)] == [(1, None), (2, 1), (2, 2)]


def test_git_review_download_fetches_a_patch_set_from_refs_changes(git, project, database):
    install_hook(git, project.bob)
    sha1 = git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    git_review(git, project.bob)
    (project.bob / "app.py").write_text("print('hi!')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    sha2 = git.head(project.bob)
    git_review(git, project.bob)
    refs = git.run("ls-remote", project.url, "refs/changes/*").stdout
    assert f"{sha1}\trefs/changes/01/1/1" in refs and f"{sha2}\trefs/changes/01/1/2" in refs

    # alice downloads bob's change into a branch of her clone, as a reviewer does.
    out = git_review(git, project.alice, "-d", "1")
    assert "refs/changes/01/1/2" in out.stdout
    assert git.head(project.alice) == sha2
    branch = git.run("rev-parse", "--abbrev-ref", "HEAD", cwd=project.alice).stdout.strip()
    assert branch == "review/1"
    git_review(git, project.alice, "-d", "1,1")
    assert git.head(project.alice) == sha1
    # Gerrit's project~number form (the project's / written %2F, as Gerrit writes it) names
    # the repository when a bare number is ambiguous.
    git_review(git, project.alice, "-d", "alice%2Fproject~1")
    assert git.head(project.alice) == sha2


def test_gc_and_the_workers_write_the_refs_of_patch_sets_uploaded_before_forge_kept_them(
    git, project, settings, monkeypatch
):
    install_hook(git, project.bob)
    sha1 = git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    git_review(git, project.bob)
    (project.bob / "app.py").write_text("print('hi!')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    sha2 = git.head(project.bob)
    git_review(git, project.bob)
    bare = settings.repos_dir / "alice" / "project.git"
    # As a patch set uploaded before forge wrote refs/changes/ has none.
    for ref in ("refs/changes/01/1/1", "refs/changes/01/1/2"):
        git.run("update-ref", "-d", ref, cwd=bare)
    fetched = git.run("fetch", "origin", "refs/changes/01/1/1", cwd=project.alice, check=False)
    assert fetched.returncode != 0 and "couldn't find remote ref" in fetched.stderr

    env = {"DATABASE_URL": settings.database_url}
    gc = forge_cli("gc", home=settings.home, env=env)
    assert gc.returncode == 0, gc.stderr
    assert gc.stdout.splitlines() == [
        "wrote alice/project refs/changes/01/1/1",
        "wrote alice/project refs/changes/01/1/2",
    ]
    git.run("fetch", "origin", "refs/changes/01/1/1", cwd=project.alice)
    assert git.run("rev-parse", "FETCH_HEAD", cwd=project.alice).stdout.strip() == sha1
    again = forge_cli("gc", home=settings.home, env=env)  # nothing left to write
    assert again.returncode == 0 and again.stdout == "" and "wrote 0 missing" in again.stderr

    # The workers' periodic upkeep does the same.
    git.run("update-ref", "-d", "refs/changes/01/1/2", cwd=bare)
    monkeypatch.setenv("FORGE_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    (backfill,) = [r for r in RECONCILERS["default"] if r.__name__ == "_backfill_patch_set_refs"]
    backfill()
    refs = git.run("ls-remote", project.url, "refs/changes/*").stdout
    assert f"{sha2}\trefs/changes/01/1/2" in refs


def test_git_review_lists_open_changes(git, project):
    install_hook(git, project.bob)
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    git_review(git, project.bob, "-t", "greetings")
    listed = git_review(git, project.alice, "-ll").stdout
    assert "Greet briefly" in listed and "greetings" in listed and "main" in listed
    assert "Found 1 items for review" in listed


# --- topics and who may upload ------------------------------------------------------------------


def test_a_topic_groups_changes_and_never_decides_which_change_a_commit_updates(
    git, project, database, live_server
):
    install_hook(git, project.bob)
    for name in ("one", "two"):
        git.run("checkout", "-q", "-b", name, "origin/main", cwd=project.bob)
        git.commit(project.bob, {f"{name}.txt": "1\n"}, f"Change {name}")
        git.run("push", project.bob_url, "HEAD:refs/for/main%topic=pair", cwd=project.bob)
    assert [row[:2] + row[5:] for row in changes_in(database)] == [
        (1, "Change one", "pair"),
        (2, "Change two", "pair"),
    ]
    # The same Change-Id under another topic: a patch set of change #2, which moves topic.
    (project.bob / "two.txt").write_text("2\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    out = git.run(
        "push", "-o", "topic=solo", project.bob_url, "HEAD:refs/for/main", cwd=project.bob
    )
    assert "Updated change #2 (patch set 2)" in out.stderr
    assert [(row[0], row[3], row[5]) for row in changes_in(database)] == [
        (1, 1, "pair"),
        (2, 2, "solo"),
    ]
    found = gerrit_changes(live_server, "topic:pair")
    assert [c["_number"] for c in found] == [1]


def test_only_the_owner_and_writers_upload_patch_sets_to_a_change(
    git, project, database, make_user, make_token, tmp_path
):
    install_hook(git, project.bob)
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)

    # carol, another reader, downloads bob's change, amends it and tries to upload it.
    make_user("carol")
    carol_url = authed(project.url, "carol", make_token("carol"))
    carol = tmp_path / "carol"
    git.run("clone", "-q", carol_url, str(carol))
    git.install_change_id_hook(carol)
    git.run("fetch", "-q", carol_url, "refs/changes/01/1/1", cwd=carol)
    git.run("checkout", "-q", "FETCH_HEAD", cwd=carol)
    (carol / "app.py").write_text("print('hey')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=carol)
    refused = git.run("push", carol_url, "HEAD:refs/for/main", cwd=carol, check=False)
    assert refused.returncode != 0
    assert "change #1 belongs to bob" in refused.stderr
    assert "only its owner and the repository's writers" in refused.stderr
    assert [row[:4] for row in changes_in(database)] == [(1, "Greet briefly", "bob", 1)]

    # alice owns the repository (a writer): her amend is patch set 2 of bob's change.
    git.run("fetch", "-q", project.alice_url, "refs/changes/01/1/1", cwd=project.alice)
    git.run("checkout", "-q", "FETCH_HEAD", cwd=project.alice)
    (project.alice / "app.py").write_text("print('hi, all')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.alice)
    out = git.run("push", project.alice_url, "HEAD:refs/for/main", cwd=project.alice)
    assert "Updated change #1 (patch set 2)" in out.stderr
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        assert [p.uploader.name for p in change.patch_sets] == ["bob", "alice"]
        assert change.author.name == "bob"


def test_the_same_change_id_on_two_branches_is_two_changes(git, project, database):
    install_hook(git, project.alice)
    git.run("push", "-q", project.alice_url, "main:stable", cwd=project.alice)
    git.commit(project.alice, {"fix.txt": "1\n"}, "Fix it everywhere")
    git.run("push", project.alice_url, "HEAD:refs/for/main", cwd=project.alice)
    out = git.run("push", project.alice_url, "HEAD:refs/for/stable", cwd=project.alice)
    assert "Created change #2: Fix it everywhere" in out.stderr


# --- chains ----------------------------------------------------------------------------------


def test_a_change_cannot_merge_before_the_change_it_depends_on(git, project, database, github):
    install_hook(git, project.bob)
    git.commit(project.bob, {"a.txt": "a\n"}, "First")
    git.commit(project.bob, {"b.txt": "b\n"}, "Second")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    repo = github(alice_token(project)).get_repo("alice/project")
    with pytest.raises(GithubException) as refused:
        repo.get_pull(2).merge()
    assert "depends on change #1" in refused.value.data["message"]
    assert repo.get_pull(1).merge().merged
    assert repo.get_pull(2).merge().merged


def test_a_new_patch_set_of_a_parent_marks_its_child_and_the_rebase_button_fixes_it(
    git, project, database, app, login
):
    install_hook(git, project.bob)
    git.commit(project.bob, {"a.txt": "a\n"}, "First")
    git.commit(project.bob, {"b.txt": "b\n"}, "Second")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    # alice (a writer) amends the first change alone: the second sits on its old patch set.
    git.run("fetch", "-q", project.alice_url, "refs/changes/01/1/1", cwd=project.alice)
    git.run("checkout", "-q", "FETCH_HEAD", cwd=project.alice)
    (project.alice / "a.txt").write_text("a, better\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.alice)
    git.run("push", project.alice_url, "HEAD:refs/for/main", cwd=project.alice)
    new_parent = git.head(project.alice)
    with database.session() as session:
        bob_inbox = inbox.inbox(session, accounts.get_user(session, "bob"))
        assert ("needs_rebase", "change #1 has a new patch set; #2 needs a rebase") in [
            (n.reason, n.detail) for n in bob_inbox
        ]

    bob = login("bob", test_client=app.test_client())
    page = bob.get("/alice/project/pull/2").get_data(as_text=True)
    assert "Relation chain" in page and "needs rebase" in page
    assert "#1 First" in page and "Rebase</button>" in page
    parent_page = bob.get("/alice/project/pull/1").get_data(as_text=True)
    assert "#2 Second" in parent_page and "Rebase</button>" not in parent_page
    # A stranger to the change sees the chain but no button.
    anonymous = app.test_client().get("/alice/project/pull/2").get_data(as_text=True)
    assert "needs rebase" in anonymous and "Rebase</button>" not in anonymous

    done = form_post(bob, "/alice/project/pull/2", "/alice/project/pull/2/rebase", {},
                     follow_redirects=True)  # fmt: skip
    assert "Rebased: patch set 2 of change #2" in done.get_data(as_text=True)
    with database.session() as session:
        child = session.scalars(select(Change).where(Change.number == 2)).one()
        head = child.head_sha
        assert child.current_patch_set.base_sha == new_parent
        assert child.current_patch_set.message == "Rebased"
    # The rebased commit sits on the parent's new patch set and keeps its Change-Id.
    git.run("fetch", "-q", project.bob_url, "refs/changes/02/2/2", cwd=project.bob)
    assert git.head(project.bob, "FETCH_HEAD") == head
    assert git.head(project.bob, "FETCH_HEAD~1") == new_parent
    assert (
        "Change-Id: I" in git.run("log", "-1", "--format=%B", "FETCH_HEAD", cwd=project.bob).stdout
    )
    assert "needs rebase" not in bob.get("/alice/project/pull/2").get_data(as_text=True)


def test_diff_against_an_older_patch_set_hides_what_a_rebase_brought_in(
    git, project, app, database
):
    install_hook(git, project.bob)
    git.commit(project.bob, {"app.py": "print('hi')\n"}, "Greet briefly")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    # Meanwhile main moves on; bob rebases onto it and changes his own line too.
    git.commit(project.alice, {"upstream.txt": "from upstream\n"}, "Upstream work")
    git.run("push", "-q", project.alice_url, "main", cwd=project.alice)
    git.run("pull", "-q", "--rebase", project.bob_url, "main", cwd=project.bob)
    (project.bob / "app.py").write_text("print('hi there')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    out = git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    assert "patch set 2" in out.stderr
    client = app.test_client()
    files = client.get("/alice/project/pull/1/files?ps=2&against=1").get_data(as_text=True)
    assert "app.py" in files and "upstream.txt" not in files
    diff = client.get("/alice/project/pull/1/files/diff?ps=2&against=1&path=app.py")
    assert "hi there" in diff.get_data(as_text=True)


# --- the REST search git-review uses -----------------------------------------------------------


def test_a_bare_number_shared_by_two_repositories_is_refused_naming_both(
    git, project, hosted_repo, live_server, tmp_path
):
    install_hook(git, project.bob)
    git.commit(project.bob, {"a.txt": "a\n"}, "In project")
    git.run("push", project.bob_url, "HEAD:refs/for/main", cwd=project.bob)
    other = hosted_repo("alice", "other")
    work = git.init(tmp_path / "other")
    git.run("push", "-q", other.push_url, "main", cwd=work)
    git.install_change_id_hook(work)
    git.commit(work, {"b.txt": "b\n"}, "In other")
    git.run("push", other.push_url, "HEAD:refs/for/main", cwd=work)

    answer = requests.get(f"{live_server}/changes/", params={"q": "1"}, timeout=30)
    assert answer.status_code == 400
    assert "ambiguous" in answer.text
    assert "alice/project~1" in answer.text and "alice/other~1" in answer.text
    out = git_review(git, project.alice, "-d", "1", check=False)
    assert out.returncode != 0 and "alice/other~1" in out.stdout + out.stderr
    named = gerrit_changes(live_server, "alice/other~1", o="CURRENT_REVISION")
    assert [(c["project"], c["subject"]) for c in named] == [("alice/other", "In other")]
    assert list(named[0]["revisions"].values())[0]["ref"] == "refs/changes/01/1/1"


def test_the_changes_search_answers_gerrits_queries_and_refuses_what_it_cannot_read(
    git, project, live_server
):
    install_hook(git, project.bob)
    git.commit(project.bob, {"a.txt": "a\n"}, "Open one")
    git.run("push", project.bob_url, "HEAD:refs/for/main%topic=t1", cwd=project.bob)
    found = gerrit_changes(live_server, "project:alice/project status:open branch:main")
    assert [(c["_number"], c["status"], c["topic"], c["owner"]["username"]) for c in found] == [
        (1, "NEW", "t1", "bob")
    ]
    assert gerrit_changes(live_server, "status:merged") == []
    assert gerrit_changes(live_server, "owner:bob change:1")[0]["subject"] == "Open one"
    unknown = requests.get(f"{live_server}/changes/", params={"q": "label:Code-Review+2"},
                           timeout=30)  # fmt: skip
    assert unknown.status_code == 400 and "unsupported search term" in unknown.text
    # /a/ is Gerrit's prefix for a signed-in caller: anonymous is asked to authenticate.
    anonymous = requests.get(f"{live_server}/a/changes/", params={"q": "1"}, timeout=30)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    signed = requests.get(f"{live_server}/a/changes/", params={"q": "1"}, timeout=30,
                          auth=("alice", alice_token(project)))  # fmt: skip
    assert signed.status_code == 200 and json.loads(signed.text[5:])[0]["_number"] == 1
    wrong = requests.get(f"{live_server}/changes/", timeout=30, auth=("alice", "nope"))
    assert wrong.status_code == 401


def test_a_private_repository_s_changes_are_found_only_with_a_token_that_may_read_it(
    git, hosted_repo, make_token, live_server, tmp_path
):
    secret = hosted_repo("alice", "secret", private=True)
    work = git.init(tmp_path / "secret")
    git.run("push", "-q", secret.push_url, "main", cwd=work)
    git.install_change_id_hook(work)
    git.commit(work, {"plan.txt": "plan\n"}, "Secret plan")
    git.run("push", secret.push_url, "HEAD:refs/for/main", cwd=work)

    assert gerrit_changes(live_server, "status:open") == []  # anonymous
    # A token without the `repo` scope reads public repositories only, as for git and the API.
    assert gerrit_changes(live_server, "status:open", make_token("alice", "user")) == []
    found = gerrit_changes(live_server, "status:open", secret.token)
    assert [(c["project"], c["subject"]) for c in found] == [("alice/secret", "Secret plan")]
