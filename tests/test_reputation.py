"""Reputation: what merges, abandons, reverts and audits do to the peers who wrote and
reviewed a change, told through real pushes, the votes API and the profile page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import authed, form_post
from sqlalchemy import select
from support.ci import jobs_of as ci_jobs_of
from support.ci import upload as ci_upload
from support.ci import work

from forge.accounts import reputation
from forge.accounts import users as accounts
from forge.models import Change, User
from forge.models.quality import ReputationEvent, TrustEdge
from forge.repos import repositories as repo_service


@pytest.fixture
def peers(git, hosted_repo, tmp_path, make_user, make_token, api):
    """alice's public project; bob proposes changes from his clone; carol maintains (so may
    give +2), dave and erin are readers who review."""
    repo = hosted_repo()
    work = git.init(tmp_path / "alice", {"app.py": "print('hello')\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    repo.alice = work
    tokens = {"alice": repo.token}
    for name in ("bob", "carol", "dave", "erin"):
        make_user(name)
        tokens[name] = make_token(name)
    answer = api("PUT", "/repos/alice/project/collaborators/carol", repo.token,
                 json={"permission": "maintain"})  # fmt: skip
    assert answer.status_code in (201, 204), answer.text
    repo.tokens = tokens
    repo.bob_url = authed(repo.url, "bob", tokens["bob"])
    repo.bob = tmp_path / "bob"
    git.run("clone", "-q", repo.bob_url, str(repo.bob))
    git.install_change_id_hook(repo.bob)
    repo.uploads = 0
    return repo


def upload(git, peers, files: dict, title: str) -> int:
    """bob pushes a commit to refs/for/main; returns the new change's number."""
    git.run("checkout", "-q", "-B", f"topic{peers.uploads}", "origin/main", cwd=peers.bob)
    peers.uploads += 1
    git.commit(peers.bob, files, title)
    out = git.run("push", peers.bob_url, "HEAD:refs/for/main", cwd=peers.bob)
    return int(out.stderr.split("Created change #", 1)[1].split(":", 1)[0])


def vote(api, peers, who: str, number: int, value: int, label: str = "Code-Review"):
    answer = api("POST", f"/repos/alice/project/pulls/{number}/votes", peers.tokens[who],
                 json={"label": label, "value": value})  # fmt: skip
    assert answer.status_code in (200, 201), answer.text
    return answer


def standing_of(api, name: str, token=None, **params) -> dict:
    answer = api("GET", f"/users/{name}/reputation", token, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def merge(api, peers, number: int, method: str = "squash") -> str:
    answer = api("PUT", f"/repos/alice/project/pulls/{number}/merge", peers.tokens["alice"],
                 json={"merge_method": method})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["sha"]


def test_a_merge_pays_the_author_and_settles_the_reviewers(git, peers, api, database):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    vote(api, peers, "dave", number, -1)
    merge(api, peers, number)

    bob = standing_of(api, "bob")
    assert bob["reputation"] == 10
    assert bob["history"][0]["reason"] == "+10: change alice/project#1 merged"
    assert bob["history"][0]["kind"] == "merged_author"
    assert bob["history"][0]["repository"] == "alice/project"
    assert bob["history"][0]["change"] == 1
    carol = standing_of(api, "carol")
    assert (carol["reputation"], carol["accuracy"]) == (2, 1.0)
    assert carol["history"][0]["reason"] == (
        "+2: Code-Review +2 on alice/project#1 agreed with the outcome: it merged"
    )
    dave = standing_of(api, "dave")
    assert (dave["reputation"], dave["accuracy"]) == (-2, 0.0)
    assert "disagreed with the outcome: it merged" in dave["history"][0]["reason"]
    # Someone who never reviewed has no accuracy yet.
    assert standing_of(api, "erin") == {
        "reputation": 0, "accuracy": None, "settled_votes": 0, "history": [],
    }  # fmt: skip

    # Settling the same change again (a retried job, a second call) pays nobody twice.
    with database.session() as session:
        change = session.scalar(select(Change).where(Change.number == number))
        alice = accounts.get_user(session, "alice")
        reputation.settle_merged(session, change, alice)
        reputation.settle_merged(session, change, alice)
    assert standing_of(api, "bob")["reputation"] == 10
    assert standing_of(api, "carol")["reputation"] == 2
    with database.session() as session:
        events = session.scalars(select(ReputationEvent)).all()
        assert len(events) == 3
        cached = {u.name: u.reputation for u in session.scalars(select(User))}
        assert cached["bob"] == 10 and cached["dave"] == -2
        # alice merged: bob gained trust from her once, and carol her share for agreeing.
        edges = session.execute(
            select(TrustEdge.kind, User.name, TrustEdge.amount)
            .join(User, User.id == TrustEdge.trustee_id)
            .order_by(TrustEdge.id)
        ).all()
        assert [tuple(e) for e in edges] == [("merged", "bob", 0.25), ("agreed", "carol", 0.3)]


def test_a_revert_within_the_window_takes_it_back_with_reasons(git, peers, api, tmp_path):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    vote(api, peers, "dave", number, 1)
    vote(api, peers, "erin", number, -1)
    merged = merge(api, peers, number)
    assert standing_of(api, "bob")["reputation"] == 10

    # alice reverts the merged change with git itself and pushes it to main.
    git.run("pull", "-q", peers.push_url, "main", cwd=peers.alice)
    git.run("revert", "--no-edit", merged, cwd=peers.alice)
    pushed = git.run("push", peers.push_url, "main", cwd=peers.alice)
    assert "Change #1 was reverted" in pushed.stderr

    bob = standing_of(api, "bob")
    assert bob["reputation"] == 10 - 15
    reasons = [item["reason"] for item in bob["history"]]
    assert reasons[0].startswith(f"-15: change alice/project#1 was reverted by {merged[:12]}")
    carol = standing_of(api, "carol")
    # +2 agreed, -5 for approving what was reverted, -2 as the agreement is taken back.
    assert carol["reputation"] == 2 - 5 - 2
    assert carol["accuracy"] == 0.0
    kinds = {item["kind"] for item in carol["history"]}
    assert kinds == {"vote_agreed", "reverted_approver", "vote_agreed_revoked"}
    assert standing_of(api, "dave")["reputation"] == 2 - 5 - 2
    # erin's -1 disagreed when it merged; the revert does not pay her back (it never
    # un-merges), and does not charge her either.
    assert standing_of(api, "erin")["reputation"] == -2

    # Pushing another revert of the same change settles nothing twice.
    git.run("revert", "--no-edit", "HEAD", cwd=peers.alice)  # revert the revert
    git.run("revert", "--no-edit", "HEAD", cwd=peers.alice)
    git.run("push", peers.push_url, "main", cwd=peers.alice)
    assert standing_of(api, "bob")["reputation"] == -5


def test_a_revert_after_the_window_costs_nothing(git, peers, api, database):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    merged = merge(api, peers, number)
    with database.session() as session:
        change = session.scalar(select(Change).where(Change.number == number))
        change.merged_at -= timedelta(days=15)
    git.run("pull", "-q", peers.push_url, "main", cwd=peers.alice)
    git.run("revert", "--no-edit", merged, cwd=peers.alice)
    pushed = git.run("push", peers.push_url, "main", cwd=peers.alice)
    assert "was reverted" not in pushed.stderr
    assert standing_of(api, "bob")["reputation"] == 10
    assert standing_of(api, "carol")["reputation"] == 2


def test_a_merged_revert_change_counts_too(git, peers, api):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    merged = merge(api, peers, number, method="merge")
    # bob proposes the revert of the change's own commit as a change of its own.
    git.run("fetch", "-q", "origin", cwd=peers.bob)
    git.run("checkout", "-q", "-B", "undo", "origin/main", cwd=peers.bob)
    inner = git.head(peers.bob, f"{merged}^2")
    git.run("revert", "--no-edit", inner, cwd=peers.bob)
    # `git revert --no-edit` runs no commit-msg hook: the amend gives it its Change-Id.
    git.run("commit", "-q", "--amend", "--no-edit", cwd=peers.bob)
    out = git.run("push", peers.bob_url, "HEAD:refs/for/main", cwd=peers.bob)
    revert_number = int(out.stderr.split("Created change #", 1)[1].split(":", 1)[0])
    assert standing_of(api, "bob")["reputation"] == 10  # proposing a revert is no revert yet
    vote(api, peers, "carol", revert_number, 2)
    merge(api, peers, revert_number)
    bob = standing_of(api, "bob")
    # +10 for #1, -15 as it was reverted, +10 for the revert change itself.
    assert bob["reputation"] == 10 - 15 + 10
    assert any("alice/project#1 was reverted" in item["reason"] for item in bob["history"])


def test_abandoned_changes_settle_the_other_way(git, peers, api):
    number = upload(git, peers, {"app.py": "print('no')\n"}, "A bad idea")
    vote(api, peers, "dave", number, -1)
    vote(api, peers, "erin", number, 1)
    answer = api("PATCH", f"/repos/alice/project/pulls/{number}", peers.tokens["bob"],
                 json={"state": "closed"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    dave, erin = standing_of(api, "dave"), standing_of(api, "erin")
    assert (dave["reputation"], dave["accuracy"]) == (2, 1.0)
    assert dave["history"][0]["reason"].endswith("agreed with the outcome: it was abandoned")
    assert (erin["reputation"], erin["accuracy"]) == (-2, 0.0)
    assert standing_of(api, "bob")["reputation"] == 0  # an abandon costs the author nothing


def test_audits_settle_each_answer_at_once_and_never_merge(git, peers, api):
    number = upload(git, peers, {"app.py": "import os; os.system('rm -rf /')\n"}, "Tidy up")
    path = f"/repos/alice/project/pulls/{number}/audit"
    # Only maintainers mark audits, and reviewers cannot find out which changes are.
    refused = api("PUT", path, peers.tokens["dave"], json={"expected": "bad"})
    assert refused.status_code == 403
    assert api("GET", path, peers.tokens["dave"]).status_code == 403
    bad_input = api("PUT", path, peers.tokens["carol"], json={"expected": "terrible"})
    assert bad_input.status_code == 422
    assert 'expected must be "bad" or "good"' in bad_input.json()["message"]
    marked = api("PUT", path, peers.tokens["carol"], json={"expected": "bad"})
    assert marked.status_code == 200 and marked.json() == {"audit": True, "expected": "bad"}

    vote(api, peers, "dave", number, 1)  # falls for it
    vote(api, peers, "erin", number, -1)  # spots it
    dave = standing_of(api, "dave", peers.tokens["dave"])
    erin = standing_of(api, "erin", peers.tokens["erin"])
    assert (dave["reputation"], dave["accuracy"]) == (-5, 0.0)
    assert dave["history"][0]["reason"] == (
        "-5: audit failed: Code-Review +1 on alice/project#1, a known-bad change"
    )
    assert (erin["reputation"], erin["accuracy"]) == (3, 1.0)
    # A changed answer after the fact does not pay again.
    vote(api, peers, "dave", number, -1)
    assert standing_of(api, "dave")["reputation"] == -5

    vote(api, peers, "carol", number, 2)
    refused = api("PUT", f"/repos/alice/project/pulls/{number}/merge", peers.tokens["alice"],
                  json={"merge_method": "merge"})  # fmt: skip
    assert refused.status_code == 405
    assert "audit" in refused.json()["message"]
    assert api("GET", f"/repos/alice/project/pulls/{number}", peers.token).json()["merged"] is False


def test_only_the_voter_and_maintainers_read_that_a_vote_answered_an_audit(
    git, peers, api, app, login
):
    number = upload(git, peers, {"app.py": "eval(input())\n"}, "Read the config")
    marked = api("PUT", f"/repos/alice/project/pulls/{number}/audit", peers.tokens["carol"],
                 json={"expected": "bad"})  # fmt: skip
    assert marked.status_code == 200
    vote(api, peers, "dave", number, -1)  # spots it: settled at once

    # bob (a reviewer too, signed in or not) learns dave's reputation moved, not why: had
    # he read "audit" and the change, he would know which open change not to approve.
    for token in (peers.tokens["bob"], None):
        seen = standing_of(api, "dave", token)
        assert seen["reputation"] == 3
        assert seen["history"][0] == {
            "delta": 3,
            "kind": "review",
            "at": seen["history"][0]["at"],
            "reason": "+3: review settled",
            "repository": "alice/project",
            "change": None,
        }
        assert "audit" not in str(seen).lower()
    bob = login("bob", test_client=app.test_client())
    profile = bob.get("/dave").get_data(as_text=True)
    assert "+3: review settled" in profile and "audit" not in profile.lower()
    anonymous = app.test_client().get("/dave").get_data(as_text=True)
    assert "audit" not in anonymous.lower()

    # dave himself and carol, who maintains the repository, read the whole event.
    told = "+3: audit passed: Code-Review -1 on alice/project#1, a known-bad change"
    for who in ("dave", "carol"):
        event = standing_of(api, "dave", peers.tokens[who])["history"][0]
        assert (event["kind"], event["reason"], event["change"]) == ("audit_passed", told, 1)
        own = login(who, test_client=app.test_client()).get("/dave").get_data(as_text=True)
        assert told in own


def test_per_repository_view_and_private_events(git, peers, api, hosted_repo, tmp_path):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    merge(api, peers, number)
    # The same people in alice's private repository.
    secret = hosted_repo(name="secret", private=True)
    work = git.init(tmp_path / "secret", {"s.txt": "1\n"})
    git.run("push", secret.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "more", cwd=work)
    git.install_change_id_hook(work)
    git.commit(work, {"s.txt": "2\n"}, "More secrets")
    git.run("push", "-q", secret.push_url, "HEAD:refs/for/main", cwd=work)
    answer = api("PUT", "/repos/alice/secret/collaborators/carol", peers.token,
                 json={"permission": "maintain"})  # fmt: skip
    assert answer.status_code in (201, 204)
    assert api("POST", "/repos/alice/secret/pulls/1/votes", peers.tokens["carol"],
               json={"label": "Code-Review", "value": 2}).status_code == 201  # fmt: skip
    assert api("PUT", "/repos/alice/secret/pulls/1/merge", peers.token,
               json={"merge_method": "merge"}).status_code == 200  # fmt: skip

    assert standing_of(api, "carol")["reputation"] == 4
    assert standing_of(api, "carol", repository="alice/project")["reputation"] == 2
    # A stranger sees the number of the private event but not what it was about.
    hidden = standing_of(api, "carol", peers.tokens["dave"])["history"][0]
    assert hidden["reason"] == "in a repository you cannot see"
    assert hidden["repository"] is None and hidden["delta"] == 2
    seen = standing_of(api, "carol", peers.token)["history"][0]
    assert seen["repository"] == "alice/secret"
    assert api("GET", "/users/carol/reputation", peers.tokens["dave"],
               params={"repository": "alice/secret"}).status_code == 404  # fmt: skip
    assert api("GET", "/users/nobody/reputation").status_code == 404
    bad = api("GET", "/users/carol/reputation", params={"repository": "nonsense"})
    assert bad.status_code == 422


def test_history_is_paginated(git, peers, api):
    for i in range(3):
        number = upload(git, peers, {f"f{i}.txt": f"{i}\n"}, f"Change {i}")
        vote(api, peers, "carol", number, 2)
        merge(api, peers, number)
    first = api("GET", "/users/bob/reputation", params={"per_page": 2})
    assert first.json()["reputation"] == 30
    assert len(first.json()["history"]) == 2
    assert 'rel="next"' in first.headers["Link"]
    second = api("GET", "/users/bob/reputation", params={"per_page": 2, "page": 2})
    assert [item["change"] for item in second.json()["history"]] == [1]


def test_the_profile_shows_reputation_accuracy_and_a_chart(git, peers, api, client):
    number = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", number, 2)
    merge(api, peers, number)
    page = client.get("/bob").get_data(as_text=True)
    assert '<dd class="reputation-value">10</dd>' in page
    assert "<svg" in page and "<polyline" in page
    assert "+10: change alice/project#1 merged" in page
    carol = client.get("/carol").get_data(as_text=True)
    assert "100% of 1 settled vote" in carol
    fresh = client.get("/erin").get_data(as_text=True)
    assert "No reputation earned yet" in fresh and "no settled votes yet" in fresh


# --- CI: a failed run settles the votes; reputation lets a reader approve a newcomer's run ----


FAILING = "jobs:\n  test:\n    run: echo failing $CI_COMMIT_SHA; exit 3\n"


def test_a_failed_ci_run_settles_the_votes_on_that_patch_set(
    ci_project,
    git,
    tmp_path,
    database,
    settings,
    app,
    login,
    make_user,
    make_token,
    api,
):
    tokens = {name: (make_user(name), make_token(name))[1] for name in ("dave", "erin")}
    clone = tmp_path / "bob"
    git.run("clone", "-q", ci_project.bob_url, str(clone))
    git.install_change_id_hook(clone)
    sha = git.commit(clone, {".forge/ci.yml": FAILING}, "Break the build")
    git.run("push", ci_project.bob_url, "HEAD:refs/for/main", cwd=clone)
    for who, value in (("dave", -1), ("erin", 1)):
        answer = api("POST", "/repos/alice/project/pulls/1/votes", tokens[who],
                     json={"label": "Code-Review", "value": value})  # fmt: skip
        assert answer.status_code == 201, answer.text
    run_id = ci_jobs_of(database, sha)["test"].run_id
    page = f"/alice/project/actions/runs/{run_id}"
    alice = login("alice", test_client=app.test_client())
    assert form_post(alice, page, page + "/approve", {}).status_code == 302
    work(settings)
    assert ci_jobs_of(database, sha)["test"].state == "failed"

    dave = standing_of(api, "dave")
    assert (dave["reputation"], dave["accuracy"]) == (2, 1.0)
    assert dave["history"][0]["reason"] == (
        "+2: Code-Review -1 on alice/project#1 agreed with the outcome: its CI failed"
    )
    erin = standing_of(api, "erin")
    assert (erin["reputation"], erin["accuracy"]) == (-2, 0.0)
    # Closing it afterwards settles nobody twice.
    closed = api(
        "PATCH", "/repos/alice/project/pulls/1", ci_project.token, json={"state": "closed"}
    )
    assert closed.status_code == 200
    assert standing_of(api, "dave")["reputation"] == 2


def test_trust_lets_a_reader_approve_a_newcomers_run_but_not_their_own(
    ci_project,
    git,
    tmp_path,
    database,
    app,
    login,
    make_user,
):
    make_user("dave")
    bob_sha = ci_upload(git, ci_project.bob_url, tmp_path / "bob", "from bob")
    run_id = ci_jobs_of(database, bob_sha)["test"].run_id
    page = f"/alice/project/actions/runs/{run_id}"
    approve = page + "/approve"
    dave = login("dave", test_client=app.test_client())
    refused = form_post(dave, page, approve, {})
    assert refused.status_code == 403
    assert "needs the write role or a trust of 0.5 earned in alice/project; you have 0" in (
        refused.get_data(as_text=True)
    )
    with database.session() as session:
        project_row = repo_service.find_repository(session, "alice", "project")
        alice = accounts.get_user(session, "alice")
        # Reputation is history and unlocks nothing: a big number of it changes nothing.
        reputation.record(session, accounts.get_user(session, "dave"), "merged_author", 1000,
                          "a long history here", repository=project_row)  # fmt: skip
    assert form_post(dave, page, approve, {}).status_code == 403
    with database.session() as session:
        # alice, the owner, merged changes of dave's and bob's here: trust from a trusted person.
        for name in ("dave", "bob"):
            session.add(
                TrustEdge(repository_id=project_row.id, truster_id=alice.id, kind="merged",
                          trustee_id=accounts.get_user(session, name).id, amount=0.5)
            )  # fmt: skip
    # Even with the trust, bob cannot vouch for his own change.
    bob = login("bob", test_client=app.test_client())
    assert form_post(bob, page, approve, {}).status_code == 403
    assert ci_jobs_of(database, bob_sha)["test"].state == "waiting"
    shown = dave.get(page).get_data(as_text=True)
    button = re.search(r'<form[^>]*data-action="approve"[^>]*>', shown)
    assert button is not None and "hidden" not in button.group(0)
    answer = form_post(dave, page, approve, {}, follow_redirects=True)
    assert "Approved: the jobs are queued." in answer.get_data(as_text=True)
    job = ci_jobs_of(database, bob_sha)["test"]
    assert job.state == "queued" and job.reason == "approved by dave"


def test_change_page_shows_accuracy_and_lets_maintainers_mark_audits(git, peers, api, app, login):
    settled = upload(git, peers, {"app.py": "print('hi')\n"}, "Greet briefly")
    vote(api, peers, "carol", settled, 2)
    vote(api, peers, "dave", settled, -1)
    merge(api, peers, settled)
    number = upload(git, peers, {"app.py": "print('bye')\n"}, "Say goodbye")
    vote(api, peers, "carol", number, 1)
    vote(api, peers, "dave", number, 1)
    change_page = f"/alice/project/pull/{number}"

    # A reviewer sees each voter's record beside their vote, and nothing about audits.
    erin = login("erin", test_client=app.test_client())
    page = erin.get(change_page).get_data(as_text=True)
    assert "100% accurate" in page and "0% accurate" in page
    assert "audit-form" not in page
    assert (
        form_post(erin, change_page, change_page + "/audit", {"expected": "bad"}).status_code == 403
    )

    carol = login("carol", test_client=app.test_client())
    assert 'class="audit-form' in carol.get(change_page).get_data(as_text=True)
    marked = form_post(carol, change_page, change_page + "/audit", {"expected": "good"},
                       follow_redirects=True)  # fmt: skip
    assert f"#{number} is now a known-good audit." in marked.get_data(as_text=True)
    # Marking settles the answers already given: dave's +1 on a known-good change passed.
    assert standing_of(api, "dave")["reputation"] == -2 + 3
    unmarked = form_post(carol, change_page, change_page + "/audit", {"expected": "none"},
                         follow_redirects=True)  # fmt: skip
    assert "is no longer an audit" in unmarked.get_data(as_text=True)
    audit = api("GET", f"/repos/alice/project/pulls/{number}/audit", peers.tokens["carol"])
    assert audit.json() == {"audit": False, "expected": None}
