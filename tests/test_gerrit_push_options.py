"""Push options of an upload, as Gerrit takes them: appended to the ref (`%wip,r=carol`) and
given to git (`git push -o wip -o r=carol`): work in progress, private, reviewers and CCs,
label votes, hashtags, a patch set's message, submit (a chain, a whole topic) and unknown
options, each driven with the real `git` against a live forge."""

from __future__ import annotations

import pytest
import requests
from conftest import authed
from github import GithubException
from sqlalchemy import select
from support.gerrit import alice_token, changes_in, gerrit_changes, only_change, upload

from forge.accounts import users as accounts
from forge.models import Change, ChangeReviewer, Repository
from forge.models.quality import Vote
from forge.repos import repositories as repos
from forge.review import changes as change_service
from forge.review import inbox


@pytest.fixture
def project(gerrit_project):
    """alice's repository with a .gitreview, her clone and stranger bob's (support.gerrit)."""
    return gerrit_project


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
    listed = requests.get(f"{live_server}/alice/project/pulls", timeout=30).text
    assert "Greet briefly" not in listed
    mine = requests.get(f"{live_server}/api/v3/repos/alice/project/pulls/1", timeout=30,
                        headers={"Authorization": f"token {make_token('bob')}"})  # fmt: skip
    assert mine.status_code == 200
    git.run("commit", "-q", "--amend", "--no-edit", "--allow-empty", cwd=project.bob)
    git.run("push", project.bob_url, "HEAD:refs/for/main%remove-private", cwd=project.bob)
    assert [c["_number"] for c in gerrit_changes(live_server, "status:open")] == [1]


def test_git_shows_a_private_change_s_refs_and_commits_only_to_those_who_may_see_it(
    git, project, live_server, make_user, make_token, tmp_path
):
    make_user("carol")  # may read the repository, not the change
    upload(git, project, "-o", "private")
    private_sha = git.run("rev-parse", "HEAD", cwd=project.bob).stdout.strip()
    carol_url = authed(project.url, "carol", make_token("carol"))
    change_refs = ("refs/changes/01/1/1", "refs/pull/1/head")

    def listed(url):
        return git.run("ls-remote", url, "refs/changes/*", "refs/pull/*").stdout

    for url in (carol_url, project.url):  # carol, and anonymous
        shown = listed(url)
        assert all(ref not in shown for ref in change_refs), shown
        fetched = git.run("fetch", url, "refs/changes/01/1/1", cwd=project.alice, check=False)
        assert fetched.returncode != 0
        # Nor does a clone carry the change's commit among what it has no ref for.
        clone = tmp_path / f"clone-{len(list(tmp_path.iterdir()))}"
        git.run("clone", "-q", "--mirror", url, str(clone))
        assert git.run("cat-file", "-e", private_sha, cwd=clone, check=False).returncode != 0
    # git signs in only when asked, which a public repository never does: the owner and
    # writers fetch through /a/ (Gerrit's prefix), which asks, and see the change there.
    signed_in = f"{live_server}/a/alice/project.git"
    assert git.run("ls-remote", signed_in, check=False).returncode != 0  # anonymous: asked
    shown = listed(authed(signed_in, "bob", make_token("bob")))
    assert all(f"{private_sha}\t{ref}" in shown for ref in change_refs), shown
    assert f"{private_sha}\trefs/changes/01/1/1" in listed(
        authed(signed_in, "alice", alice_token(project))
    )
    assert "refs/changes/01/1/1" not in listed(authed(signed_in, "carol", make_token("carol")))


def test_reviewers_and_ccs_get_the_change_in_their_inbox(git, project, database, make_user):
    for name in ("carol", "dave", "erin"):
        make_user(name)
    upload(git, project, "-o", "r=carol", "-o", "r=dave", "%cc=erin")
    with database.session() as session:
        rows = session.scalars(select(ChangeReviewer).order_by(ChangeReviewer.id)).all()
        assert [(r.user.name, r.kind) for r in rows] == [
            ("carol", "reviewer"), ("dave", "reviewer"), ("erin", "cc"),
        ]  # fmt: skip
        told = {
            name: [n.reason for n in inbox.inbox(session, accounts.get_user(session, name))]
            for name in ("carol", "dave", "erin")
        }
        assert told == {"carol": ["review_requested"], "dave": ["review_requested"],
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
