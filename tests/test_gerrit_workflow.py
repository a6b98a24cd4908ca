"""Gerrit's workflow with git-review as the client, end to end: `git review -s` installs
forge's commit-msg hook, `git review` uploads (chains of commits become chains of changes),
`git review -d N` downloads a patch set, `git review -l` lists; plain `git push -o ...` and
`%opt` refspec suffixes set topics, reviewers, votes, work in progress and submit.

Everything runs the real `git`, the real git-review from PyPI and a live forge server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import authed, form_post
from github import GithubException
from sqlalchemy import select

from forge.accounts import users as accounts
from forge.models import Change, ChangeReviewer, Repository
from forge.models.quality import Vote
from forge.repos import repositories as repos
from forge.review import changes as change_service


@dataclass
class Project:
    url: str
    alice_url: str
    bob_url: str
    alice: Path  # alice's clone (she owns the repository)
    bob: Path  # bob's clone (a stranger: he may read and propose)
    live_server: str
    token: str  # alice's


def alice_token(project: Project) -> str:
    return project.token


@pytest.fixture
def project(git, hosted_repo, make_user, make_token, tmp_path, live_server):
    hosted = hosted_repo()
    port = live_server.rsplit(":", 1)[1]
    seed = git.init(
        tmp_path / "seed",
        {
            "app.py": "print('hello')\n",
            ".gitreview": (
                f"[gerrit]\nhost=127.0.0.1\nport={port}\nscheme=http\n"
                "project=alice/project.git\ndefaultbranch=main\ndefaultremote=origin\n"
            ),
        },
    )
    git.run("push", "-q", hosted.push_url, "main", cwd=seed)
    make_user("bob")
    bob_url = authed(hosted.url, "bob", make_token("bob"))
    clones = {}
    for name, url in (("alice", hosted.push_url), ("bob", bob_url)):
        clones[name] = tmp_path / name
        git.run("clone", "-q", url, str(clones[name]))
    return Project(
        hosted.url,
        hosted.push_url,
        bob_url,
        clones["alice"],
        clones["bob"],
        live_server,
        hosted.token,
    )


def git_review(git, clone: Path, *args, check=True):
    """The real git-review (PyPI's), as a user runs it in their clone."""
    result = subprocess.run(
        [sys.executable, "-m", "git_review.cmd", *args],
        cwd=clone,
        env=git.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git review {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def install_hook(git, clone: Path) -> None:
    git_review(git, clone, "-s")
    assert (clone / ".git" / "hooks" / "commit-msg").stat().st_mode & 0o100


def changes_in(database):
    """(number, title, author, patch set count, depends on #, topic) of every change."""
    with database.session() as session:
        rows = session.scalars(select(Change).order_by(Change.number)).all()
        return [
            (
                c.number,
                c.title,
                c.author.name,
                len(c.patch_sets),
                c.depends_on.number if c.depends_on else None,
                c.topic,
            )
            for c in rows
        ]


def change_id(git, clone: Path, ref: str = "HEAD") -> str:
    message = git.run("log", "-1", "--format=%B", ref, cwd=clone).stdout
    return [line for line in message.splitlines() if line.startswith("Change-Id: ")][-1][11:]


# --- the hook and Change-Id ---------------------------------------------------------------------


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


# --- push options, as %opt and -o opt ----------------------------------------------------------


def gerrit_changes(live_server, query, token=None, **params):
    headers = {"Authorization": f"token {token}"} if token else {}
    answer = requests.get(
        f"{live_server}/changes/", params={"q": query, **params}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith(")]}'\n")
    return json.loads(answer.text[5:])


def upload(git, project, *options, files=None, message="Greet briefly", check=True):
    """bob commits (a new change) and pushes it with `options`: "-o x" pairs or a "%..." suffix."""
    if not (project.bob / ".git" / "hooks" / "commit-msg").exists():
        git.install_change_id_hook(project.bob)
    git.commit(project.bob, files or {"app.py": "print('hi')\n"}, message)
    suffix = "".join(o for o in options if o.startswith("%"))
    flags = [o for o in options if not o.startswith("%")]
    return git.run(
        "push", *flags, project.bob_url, f"HEAD:refs/for/main{suffix}", cwd=project.bob,
        check=check,
    )  # fmt: skip


def only_change(database):
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        session.expunge_all()
        return change


def review_queue(live_server, token) -> list[int]:
    answer = requests.get(f"{live_server}/api/v3/review-queue", timeout=30,
                          headers={"Authorization": f"token {token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return [item["number"] for item in answer.json()]


@pytest.mark.parametrize("form", [("%wip",), ("-o", "wip")])
def test_wip_keeps_a_change_from_reviewers_and_from_merging_until_ready(
    git, project, database, form, github, live_server, make_user, make_token
):
    make_user("carol")
    carol = make_token("carol")
    upload(git, project, *form)
    assert review_queue(live_server, carol) == []
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        assert session.scalars(select(Change)).one().work_in_progress
        assert change_service.awaiting_review(session, alice) == []
    pull = github(alice_token(project)).get_repo("alice/project").get_pull(1)
    with pytest.raises(GithubException) as refused:
        pull.merge()
    assert "work in progress" in refused.value.data["message"]
    git.run("commit", "-q", "--amend", "--no-edit", "--allow-empty", cwd=project.bob)
    git.run("push", project.bob_url, "HEAD:refs/for/main%ready", cwd=project.bob)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        assert [c.number for c in change_service.awaiting_review(session, alice)] == [1]
    assert review_queue(live_server, carol) == [1]


def test_private_changes_are_seen_by_their_owner_reviewers_and_writers_only(
    git, project, database, live_server, make_user, make_token
):
    make_user("carol")
    upload(git, project, "-o", "private")
    assert only_change(database).private
    assert gerrit_changes(live_server, "status:open") == []
    assert gerrit_changes(live_server, "status:open", make_token("carol")) == []
    assert [c["_number"] for c in gerrit_changes(live_server, "1", make_token("bob"))] == [1]
    writer = gerrit_changes(live_server, "1", alice_token(project))
    assert writer[0]["is_private"] is True
    # The GitHub API and the change's page hide it alike (404, as a private repository).
    carol = make_token("carol")
    pulls = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls", timeout=30,
                         headers={"Authorization": f"token {carol}"})  # fmt: skip
    assert pulls.status_code == 200 and pulls.json() == []
    assert requests.get(f"{live_server}/alice/project/pull/1", timeout=30).status_code == 404
    mine = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls/1", timeout=30,
                        headers={"Authorization": f"token {make_token('bob')}"})  # fmt: skip
    assert mine.status_code == 200
    git.run("commit", "-q", "--amend", "--no-edit", "--allow-empty", cwd=project.bob)
    git.run("push", project.bob_url, "HEAD:refs/for/main%remove-private", cwd=project.bob)
    assert [c["_number"] for c in gerrit_changes(live_server, "status:open")] == [1]


def test_reviewers_and_ccs_get_the_change_in_their_inbox(git, project, database, make_user):
    for name in ("carol", "dave", "erin"):
        make_user(name)
    upload(git, project, "-o", "r=carol", "-o", "r=dave", "%cc=erin")
    with database.session() as session:
        rows = session.scalars(select(ChangeReviewer).order_by(ChangeReviewer.id)).all()
        assert [(r.user.name, r.kind) for r in rows] == [
            ("carol", "reviewer"), ("dave", "reviewer"), ("erin", "cc"),
        ]  # fmt: skip
        inbox = {
            name: [
                n.reason for n in change_service.inbox(session, accounts.get_user(session, name))
            ]
            for name in ("carol", "dave", "erin")
        }
        assert inbox == {"carol": ["review_requested"], "dave": ["review_requested"],
                         "erin": ["cc"]}  # fmt: skip
        carol = accounts.get_user(session, "carol")
        assert [c.number for c in change_service.awaiting_review(session, carol)] == [1]
        erin = accounts.get_user(session, "erin")
        assert change_service.awaiting_review(session, erin) == []
    # An unknown reviewer refuses the push, and nothing is created.
    out = upload(git, project, "%r=nobody", files={"b.txt": "b\n"}, message="Other", check=False)
    assert out.returncode != 0 and "r=nobody: no such user here" in out.stderr
    assert [row[0] for row in changes_in(database)] == [1]


def test_a_label_vote_on_push_needs_the_same_privilege_as_in_the_browser(git, project, database):
    refused = upload(git, project, "%l=Code-Review+2", check=False)
    assert refused.returncode != 0
    assert "Code-Review" in refused.stderr and "+2" in refused.stderr
    assert changes_in(database) == []
    git.run("reset", "-q", "--hard", "origin/main", cwd=project.bob)
    upload(git, project, "-o", "l=Code-Review+1")
    with database.session() as session:
        votes = session.scalars(select(Vote)).all()
        assert [(v.user.name, v.label, v.value, v.via) for v in votes] == [
            ("bob", "Code-Review", 1, "push")
        ]


def test_hashtags_and_a_patch_set_message(git, project, database, live_server):
    upload(git, project, "-o", "hashtag=ux", "%t=docs,m=First_try%21")
    change = only_change(database)
    assert change.hashtag_list == ["ux", "docs"]
    (project.bob / "app.py").write_text("print('hi again')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=project.bob)
    git.run("push", "-o", "m=Rebased, as asked", project.bob_url, "HEAD:refs/for/main",
            cwd=project.bob)  # fmt: skip
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        assert [p.message for p in change.patch_sets] == ["First try!", "Rebased, as asked"]
    page = requests.get(f"{live_server}/alice/project/pull/1", timeout=30).text
    assert "First try!" in page and "Rebased, as asked" in page
    assert [c["_number"] for c in gerrit_changes(live_server, "hashtag:docs")] == [1]


def test_submit_merges_when_the_gate_allows_and_otherwise_refuses_saying_why(
    git, project, database, make_user, make_token, tmp_path
):
    refused = upload(git, project, "%submit", check=False)
    assert refused.returncode != 0
    assert "change #1 cannot be submitted" in refused.stderr and "write" in refused.stderr
    assert changes_in(database) == []
    # alice owns the repository: her own change lands at once (an admin's bypass).
    git.install_change_id_hook(project.alice)
    sha = git.commit(project.alice, {"app.py": "print('merged')\n"}, "Land it")
    out = git.run("push", "-o", "submit", project.alice_url, "HEAD:refs/for/main",
                  cwd=project.alice)  # fmt: skip
    assert "Submitted change #1: merged into main" in out.stderr
    main = git.run("ls-remote", project.url, "refs/heads/main").stdout.split()[0]
    git.run("fetch", "-q", project.alice_url, "main", cwd=project.alice)
    ancestor = git.run("merge-base", "--is-ancestor", sha, main, cwd=project.alice, check=False)
    assert ancestor.returncode == 0
    with database.session() as session:
        assert session.scalars(select(Change)).one().state == "merged"


def test_submit_of_a_chain_merges_every_change_parents_first(git, project, database):
    git.install_change_id_hook(project.alice)
    first = git.commit(project.alice, {"a.txt": "a\n"}, "First")
    second = git.commit(project.alice, {"b.txt": "b\n"}, "Second")
    out = git.run("push", project.alice_url, "HEAD:refs/for/main%submit", cwd=project.alice)
    said = out.stderr
    assert said.index("Submitted change #1") < said.index("Submitted change #2")
    with database.session() as session:
        assert [c.state for c in session.scalars(select(Change).order_by(Change.number))] == [
            "merged",
            "merged",
        ]
    main = git.run("ls-remote", project.url, "refs/heads/main").stdout.split()[0]
    git.run("fetch", "-q", project.alice_url, "main", cwd=project.alice)
    for sha in (first, second):
        landed = git.run("merge-base", "--is-ancestor", sha, main, cwd=project.alice, check=False)
        assert landed.returncode == 0


def test_submit_takes_the_whole_topic_or_nothing(
    git, project, database, make_user, make_token, tmp_path
):
    # dave may write but his changes need a review: his %submit of the topic is refused.
    make_user("dave")
    with database.session() as session:
        repo = session.scalars(select(Repository)).one()
        repos.set_collaborator(session, repo, repo.owner, "dave", "write")
    dave_url = authed(project.url, "dave", make_token("dave"))
    dave = tmp_path / "dave"
    git.run("clone", "-q", dave_url, str(dave))
    git.install_change_id_hook(dave)
    git.commit(dave, {"d.txt": "d\n"}, "Dave's part")
    git.run("push", dave_url, "HEAD:refs/for/main%topic=pair", cwd=dave)
    before = git.run("ls-remote", project.url, "refs/heads/main").stdout
    git.run("checkout", "-q", "-b", "other", "origin/main", cwd=dave)
    git.commit(dave, {"e.txt": "e\n"}, "Dave's other part")
    refused = git.run("push", dave_url, "HEAD:refs/for/main%topic=pair,submit", cwd=dave,
                      check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "change #1 cannot be submitted: the submit requirements are not met" in refused.stderr
    assert git.run("ls-remote", project.url, "refs/heads/main").stdout == before
    assert [row[0] for row in changes_in(database)] == [1]
    # The refused change's refs went with it: only change #1 has refs.
    refs = git.run("ls-remote", project.url, "refs/changes/*", "refs/pull/*").stdout
    assert "refs/changes/02/" not in refs and "refs/pull/2/" not in refs
    assert "refs/changes/01/1/1" in refs

    # alice's %submit of a change in the topic lands dave's change with it, together.
    git.install_change_id_hook(project.alice)
    git.commit(project.alice, {"f.txt": "f\n"}, "Alice's part")
    out = git.run("push", project.alice_url, "HEAD:refs/for/main%topic=pair,submit",
                  cwd=project.alice)  # fmt: skip
    assert "Submitted change #1" in out.stderr and "Submitted change #2" in out.stderr
    with database.session() as session:
        rows = session.scalars(select(Change).order_by(Change.number)).all()
        assert [(c.number, c.state) for c in rows] == [(1, "merged"), (2, "merged")]


def test_an_unknown_option_is_refused_with_the_known_ones(git, project, database):
    for form in (["%topic=x,frobnicate"], ["-o", "frobnicate=1"]):
        out = upload(git, project, *form, check=False)
        assert out.returncode != 0
        assert "unknown push option 'frobnicate'" in out.stderr
        assert "topic=NAME" in out.stderr and "l=Label+N" in out.stderr and "submit" in out.stderr
        git.run("reset", "-q", "--hard", "origin/main", cwd=project.bob)
    assert changes_in(database) == []


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
        bob_inbox = change_service.inbox(session, accounts.get_user(session, "bob"))
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
