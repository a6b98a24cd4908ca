"""Votes, privileges and the quality gate, the way peers meet them: changes uploaded with the
real `git push HEAD:refs/for/main`, votes through the API (PyGithub's reviews and plain HTTP),
the change page and its vote form, and merges refused or let through by the gate.

The cast in alice's public repository: bob writes, maya maintains, and carol, dave, erin and
frank are strangers (readers) whose Code-Review +1 weighs the trust they earned in the
repository (none at first: their votes are advisory). carol uploads the changes.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from conftest import authed, form_post
from github import GithubException
from playwright.sync_api import expect
from sqlalchemy import select
from support.browser import shot, sign_in, watch_console
from support.webhooks import drain, loopback_settings, make_hook

from forge.accounts import users as accounts
from forge.errors import Forbidden, Invalid
from forge.gate import votes as vote_service
from forge.models import Change, ChangeEvent
from forge.models.quality import TrustEdge
from forge.repos import repositories as repos

APP = "".join(f"line {i}\n" for i in range(1, 11))


@pytest.fixture
def settings(settings):
    """Webhook receivers on 127.0.0.1 are allowed (a test hears the vote events)."""
    return loopback_settings(settings)


@pytest.fixture
def project(git, hosted_repo, tmp_path, make_user, make_token, database, github, api):
    repo = hosted_repo()
    work = git.init(tmp_path / "alice", {"app.py": APP, "README.md": "# project\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    for name in ("bob", "maya", "carol", "dave", "erin", "frank"):
        make_user(name)
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        found = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, found, owner, "bob", "write")
        repos.set_collaborator(session, found, owner, "maya", "maintain")
    tokens = {"alice": repo.token}
    tokens.update({name: make_token(name) for name in ("bob", "maya", "carol", "dave", "erin")})
    carol_url = authed(repo.url, "carol", tokens["carol"])
    clone = tmp_path / "carol"
    git.run("clone", "-q", carol_url, str(clone))
    git.install_change_id_hook(clone)

    def upload(files: dict[str, str], message: str = "Spell out two", amend: bool = False):
        """carol's change, amended with its Change-Id kept: a new patch set each time."""
        for path, text in files.items():
            (clone / path).write_text(text)
        git.run("add", "-A", cwd=clone)
        kept = ["-m", git.change_id_trailer(clone)] if amend else []
        git.run("commit", "-q", *(["--amend"] if amend else []), "-m", message, *kept, cwd=clone)
        return git.run("push", "-o", "topic=two", carol_url, "HEAD:refs/for/main", cwd=clone)

    def vote(who: str, label: str, value, message: str = "", number: int = 1):
        body = {"label": label, "value": value, "message": message}
        return api("POST", f"/repos/alice/project/pulls/{number}/votes", tokens[who], json=body)

    def votes(number: int = 1, who: str = "alice") -> dict:
        answer = api("GET", f"/repos/alice/project/pulls/{number}/votes", tokens[who])
        assert answer.status_code == 200, answer.text
        return answer.json()

    return SimpleNamespace(
        hosted=repo, work=work, clone=clone, carol_url=carol_url, tokens=tokens,
        upload=upload, vote=vote, votes=votes,
        gh={name: github(token).get_repo("alice/project") for name, token in tokens.items()},
    )  # fmt: skip


def earn(database, name: str, amount: float, repo=("alice", "project")) -> None:
    """Give a user trust in a repository, as history would have: the owner merged changes of
    theirs worth `amount` (the edges forge.accounts.trust records when a merge settles)."""
    with database.session() as session:
        user = accounts.get_user(session, name)
        found = repos.find_repository(session, *repo)
        session.add(
            TrustEdge(
                repository_id=found.id, truster_id=found.owner_id, trustee_id=user.id,
                kind="merged", amount=amount,
            )
        )  # fmt: skip


def mine(answer: dict, user: str, label: str = "Code-Review") -> dict:
    return next(v for v in answer["votes"] if v["user"] == user and v["label"] == label)


def spell_out_two(project) -> None:
    project.upload({"app.py": APP.replace("line 2\n", "line two\n")})


# --- privileges ---------------------------------------------------------------------------


def test_a_reader_gives_plus_one_but_plus_two_and_verified_name_the_missing_privilege(project):
    spell_out_two(project)
    refused = project.vote("dave", "Code-Review", 2)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "giving Code-Review +2 needs the maintain role or a trust of 0.5 earned in "
        "alice/project; you have 0"
    )
    verified = project.vote("dave", "Verified", 1)
    assert verified.status_code == 403 and "maintain role" in verified.json()["message"]
    out_of_range = project.vote("dave", "Code-Review", 3)
    assert out_of_range.status_code == 422
    assert out_of_range.json()["message"] == "Code-Review must be between -2 and +2"
    assert out_of_range.json()["errors"][0]["field"] == "value"
    unknown = project.vote("dave", "Looks-Fine", 1)
    assert unknown.status_code == 422 and "Code-Review, Verified" in unknown.json()["message"]
    assert project.vote("dave", "Code-Review", "1").status_code == 422
    assert project.vote("dave", "Code-Review", True).status_code == 422
    assert project.vote("dave", "Code-Review", 1).status_code == 201

    answer = project.votes()
    assert [(v["user"], v["label"], v["value"]) for v in answer["votes"]] == [
        ("dave", "Code-Review", 1)
    ]
    dave = mine(answer, "dave")
    assert (dave["weight"], dave["stale"], dave["counted"], dave["patch_set"], dave["via"]) == (
        0.0, False, False, 1, "api",
    )  # fmt: skip
    # A stranger's vote shows, marked advisory: it weighs nothing toward the quorum.
    assert dave["advisory"] is True
    assert dave["note"] == "advisory: dave holds no trust in alice/project yet"
    assert answer["submit"]["ready"] is False
    assert answer["submit"]["unmet"] == [
        "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    ]


def test_a_suspended_maintainer_or_site_admin_neither_votes_nor_weighs(
    project, database, make_user, make_token
):
    spell_out_two(project)
    make_user("root", admin=True)
    project.tokens["root"] = make_token("root")
    assert project.vote("maya", "Code-Review", 2).status_code == 201
    assert project.vote("root", "Code-Review", 1).status_code == 201
    answer = project.votes()
    assert (mine(answer, "maya")["weight"], mine(answer, "root")["weight"]) == (2.0, 2.0)
    assert answer["submit"]["ready"] is True

    with database.session() as session:
        for name in ("maya", "root"):
            accounts.get_user(session, name).is_suspended = True
    # Their votes stay on the record, but neither the +2 nor the weight counts any more.
    answer = project.votes()
    for name in ("maya", "root"):
        given = mine(answer, name)
        assert (given["weight"], given["counted"]) == (0.0, False)
        assert given["note"] == "a suspended account's vote does not count"
    assert answer["submit"]["ready"] is False
    assert answer["submit"]["unmet"] == [
        "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    ]
    # Their tokens no longer sign in, and the service refuses whatever the caller.
    assert project.vote("maya", "Code-Review", 2).status_code == 401
    with database.session() as session:
        change = session.scalar(select(Change))
        maya = accounts.get_user(session, "maya")
        with pytest.raises(Forbidden, match="a suspended account cannot vote"):
            vote_service.record_vote(session, maya, change, "Code-Review", 2)


def test_anonymous_callers_and_closed_changes_cannot_vote(project, api):
    spell_out_two(project)
    body = {"label": "Code-Review", "value": 1}
    assert api("POST", "/repos/alice/project/pulls/1/votes", json=body).status_code == 401
    assert api("GET", "/repos/alice/project/pulls/1/votes").status_code == 200  # public
    project.gh["carol"].get_pull(1).edit(state="closed")
    closed = project.vote("dave", "Code-Review", 1)
    assert closed.status_code == 422 and "closed" in closed.json()["message"]
    assert project.votes()["votes"] == []


def test_a_private_changes_votes_and_gate_are_invisible_to_strangers(
    hosted_repo, git, tmp_path, make_user, make_token, api, github
):
    secret = hosted_repo("alice", "secret", private=True)
    work = git.init(tmp_path / "secret", {"a.txt": "a\n"})
    git.run("push", "-q", secret.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    git.commit(work, {"a.txt": "b\n"}, "B")
    git.run("push", "-q", secret.push_url, "topic", cwd=work)
    github(secret.token).get_repo("alice/secret").create_pull("main", "topic", title="B")
    make_user("mallory")
    token = make_token("mallory")
    for method, path, body in [
        ("GET", "/repos/alice/secret/pulls/1/votes", None),
        ("POST", "/repos/alice/secret/pulls/1/votes", {"label": "Code-Review", "value": 1}),
        ("GET", "/repos/alice/secret/quality-gate", None),
        ("PUT", "/repos/alice/secret/quality-gate", {"quorum": 1.0}),
    ]:
        answer = api(method, path, token, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert api("GET", "/repos/alice/secret/pulls/1/votes", secret.token).json()["votes"] == []


# --- the gate -----------------------------------------------------------------------------


def test_a_veto_blocks_despite_plus_two_and_the_writers_merge_is_refused(project):
    spell_out_two(project)
    assert project.vote("maya", "Code-Review", 2, "Lovely").status_code == 201
    assert project.votes()["submit"]["ready"] is True
    assert project.vote("alice", "Code-Review", -2, "Not like this").status_code == 201
    submit = project.votes()["submit"]
    assert submit["ready"] is False
    assert submit["unmet"] == ["Code-Review: vetoed with -2 by alice"]

    with pytest.raises(GithubException) as refused:
        project.gh["bob"].get_pull(1).merge(merge_method="merge")
    assert refused.value.status == 405
    message = refused.value.data["message"]
    assert message.startswith("Pull Request is not mergeable")
    assert "vetoed with -2 by alice" in message
    assert project.gh["bob"].get_pull(1).state == "open"

    # Taking the veto back (0) lets the +2 stand, and the writer merges.
    taken_back = project.vote("alice", "Code-Review", 0)
    assert taken_back.status_code == 200 and taken_back.json()["action"] == "deleted"
    assert project.gh["bob"].get_pull(1).merge(merge_method="merge").merged


def test_a_quorum_of_weighted_plus_ones_makes_it_submittable(project, database):
    spell_out_two(project)
    earn(database, "dave", 1.0)  # merged changes worth the most earned trust: an approver
    earn(database, "erin", 0.4)  # short of approver_trust: her approval is a +1
    assert project.vote("dave", "Code-Review", 1).status_code == 201
    # A review is a vote too: erin approves through PyGithub, which is her +1 (no +2 right).
    project.gh["erin"].get_pull(1).create_review(event="APPROVE", body="Works for me")
    answer = project.votes()
    assert (mine(answer, "dave")["weight"], mine(answer, "erin")["weight"]) == (1.0, 0.4)
    assert mine(answer, "dave")["reason"] == "trust earned from decisions of alice"
    assert mine(answer, "erin")["via"] == "review"
    assert answer["submit"]["unmet"] == [
        "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 1.4)"
    ]
    with pytest.raises(GithubException) as refused:
        project.gh["bob"].get_pull(1).merge()
    assert refused.value.status == 405

    # bob's own +1: a writer weighs 1.0, and that makes 2.4.
    assert project.vote("bob", "Code-Review", 1).status_code == 201
    assert mine(project.votes(), "bob")["reason"] == "the write role"
    submit = project.votes()["submit"]
    assert submit["ready"] is True and submit["unmet"] == []
    review = next(r for r in submit["requirements"] if r["name"] == "Code-Review")
    assert review["met"] and "2.4 of 2" in review["summary"]
    assert project.gh["bob"].get_pull(1).merge().merged


def test_request_changes_is_minus_one_and_a_comment_leaves_votes_alone(project):
    spell_out_two(project)
    pull = project.gh["maya"].get_pull(1)
    pull.create_review(event="APPROVE")
    assert mine(project.votes(), "maya")["value"] == 2  # maya may give +2, so APPROVE is +2
    pull.create_review(event="COMMENT", body="One more thing")
    assert mine(project.votes(), "maya")["value"] == 2
    pull.create_review(event="REQUEST_CHANGES", body="Actually, no")
    assert mine(project.votes(), "maya")["value"] == -1
    assert project.votes()["submit"]["ready"] is False


def test_votes_go_stale_on_a_new_patch_set_and_plus_one_survives_a_trivial_rebase(
    project, git, database
):
    spell_out_two(project)
    earn(database, "dave", 0.5)
    assert project.vote("dave", "Code-Review", 1, "fine").status_code == 201
    assert project.vote("maya", "Code-Review", 2).status_code == 201
    assert project.votes()["submit"]["ready"] is True

    # main moves on (another file); carol rebases her change onto it: the same diff.
    git.commit(project.work, {"other.txt": "other\n"}, "Meanwhile on main")
    git.run("push", "-q", project.hosted.push_url, "main", cwd=project.work)
    git.run("pull", "-q", "--rebase", project.carol_url, "main", cwd=project.clone)
    pushed = git.run("push", "-o", "topic=two", project.carol_url, "HEAD:refs/for/main",
                     cwd=project.clone)  # fmt: skip
    assert "(patch set 2)" in pushed.stderr
    answer = project.votes()
    dave, maya = mine(answer, "dave"), mine(answer, "maya")
    assert (dave["stale"], dave["patch_set"], dave["counted"]) == (False, 2, True)
    assert (maya["stale"], maya["patch_set"], maya["counted"]) == (True, 1, False)
    assert maya["note"] == "given on patch set 1"
    assert answer["submit"]["ready"] is False

    # A real change of the code: every vote is stale now.
    project.upload({"app.py": APP.replace("line 2\n", "line TWO\n")}, amend=True)
    answer = project.votes()
    assert [(v["user"], v["stale"]) for v in answer["votes"]] == [("maya", True), ("dave", True)]
    assert answer["submit"]["unmet"] == [
        "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    ]
    # A stale vote is given again on the current patch set by voting again.
    assert project.vote("maya", "Code-Review", 2).status_code == 200
    assert project.votes()["submit"]["ready"] is True


def test_the_authors_own_votes_never_count_but_an_owner_may_bypass(
    project, git, database, live_server
):
    # alice, the owner, proposes her own change and approves it herself.
    git.run("checkout", "-q", "-b", "mine", cwd=project.work)
    git.commit(project.work, {"app.py": APP.replace("line 9\n", "line nine\n")}, "Nine")
    git.run("push", "-q", project.hosted.push_url, "mine", cwd=project.work)
    pull = project.gh["alice"].create_pull("main", "mine", title="Spell out nine")
    assert project.vote("alice", "Code-Review", 2).status_code == 201
    answer = project.votes()
    own = mine(answer, "alice")
    assert (own["counted"], own["note"]) == (False, "the author's own vote does not count")
    assert answer["submit"]["ready"] is False
    page = requests.get(f"{live_server}/alice/project/pull/1", timeout=30).text
    assert "the author&#39;s own vote does not count" in page

    # With the branch's protection enforcing its rules for admins, not even she may merge.
    project.gh["alice"].get_branch("main").edit_protection(enforce_admins=True)
    with pytest.raises(GithubException) as refused:
        pull.merge()
    assert refused.value.status == 405
    assert "enforces them for admins too" in refused.value.data["message"]

    # Without it she lands her work, and the timeline says what the merge skipped.
    project.gh["alice"].get_branch("main").remove_protection()
    assert pull.merge().merged
    with database.session() as session:
        events = session.scalars(select(ChangeEvent.kind).order_by(ChangeEvent.id)).all()
        bypass = session.scalar(select(ChangeEvent).where(ChangeEvent.kind == "bypassed"))
        assert events[-2:] == ["bypassed", "merged"]
        assert bypass.detail == "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    page = requests.get(f"{live_server}/alice/project/pull/1", timeout=30).text
    assert "merged despite unmet submit requirements (admin bypass)" in page


def test_each_vote_given_changed_or_taken_back_is_a_webhook_event(
    project,
    github,
    receiver,
    settings,
):
    spell_out_two(project)
    make_hook(github, project.hosted, receiver, settings, events=["vote"])
    for value in (1, -1, 0):
        assert project.vote("dave", "Code-Review", value, "hmm").status_code in (200, 201)
    drain(settings, lambda: len(receiver.events("vote")) == 3)
    payloads = [r.payload() for r in receiver.events("vote")]
    assert [(p["action"], p["vote"]["value"]) for p in payloads] == [
        ("created", 1), ("updated", -1), ("deleted", -1),
    ]  # fmt: skip
    assert {p["sender"]["login"] for p in payloads} == {"dave"}
    assert {p["vote"]["label"] for p in payloads} == {"Code-Review"}


# --- Verified ---------------------------------------------------------------------------------


def status(project, state: str, context: str = "ci/test", number: int = 1) -> None:
    head = project.gh["alice"].get_pull(number).head.sha
    project.gh["alice"].get_commit(head).create_status(state, context=context)


def test_verified_follows_the_ci_statuses_and_a_maintainer_may_override(project, database):
    spell_out_two(project)
    # A required check on main makes Verified +1 a requirement (require_verified "auto").
    project.gh["alice"].get_branch("main").edit_protection(contexts=["ci/test"])
    assert project.vote("maya", "Code-Review", 2).status_code == 201
    submit = project.votes()["submit"]
    assert submit["verified_required"] is True
    assert submit["unmet"] == ["Verified: needs +1 from CI or a maintainer (waiting for ci/test)"]

    status(project, "pending")
    assert project.votes()["submit"]["unmet"] == [
        "Verified: needs +1 from CI or a maintainer (waiting for ci/test)"
    ]
    assert [v for v in project.votes()["votes"] if v["label"] == "Verified"] == []

    status(project, "failure")
    answer = project.votes()
    ci = mine(answer, "forge-ci", "Verified")
    assert (ci["value"], ci["via"], ci["counted"]) == (-1, "ci", True)
    assert answer["submit"]["unmet"] == ["Verified: failed: CI failed: ci/test failure"]

    status(project, "success")
    answer = project.votes()
    assert mine(answer, "forge-ci", "Verified")["value"] == 1
    assert answer["submit"]["ready"] is True

    # maya knows better: her Verified -1 overrides the CI, and forge-ci's vote steps aside.
    assert project.vote("maya", "Verified", -1, "breaks on ARM").status_code == 201
    answer = project.votes()
    assert [(v["user"], v["value"]) for v in answer["votes"] if v["label"] == "Verified"] == [
        ("maya", -1)
    ]
    assert answer["submit"]["unmet"] == ["Verified: failed: -1 by maya"]
    assert project.vote("maya", "Verified", 0).status_code == 200
    assert project.votes()["submit"]["ready"] is True

    # The merge queue ejects a change by recording forge's CI's Verified -1 (with the log).
    with database.session() as session:
        change = session.scalar(select(Change))
        recorded = vote_service.record_vote(
            session, None, change, "Verified", -1, "the speculative merge failed: LOG", via="ci"
        )
        assert recorded.action == "created" and recorded.vote.user.name == "forge-ci"
        with pytest.raises(Invalid):
            vote_service.record_vote(session, None, change, "Code-Review", -1)
    answer = project.votes()
    assert answer["submit"]["unmet"] == ["Verified: failed: the speculative merge failed: LOG"]
    # Nobody can sign up as forge's CI.
    with database.session() as session, pytest.raises(Invalid):
        accounts.create_user(session, "Forge-CI", "x@example.org", "a long enough password")


# --- the quality gate API ------------------------------------------------------------------


def test_the_quality_gate_round_trips_and_bad_input_changes_nothing(project, api):
    defaults = api("GET", "/repos/alice/project/quality-gate", project.tokens["dave"])
    assert defaults.status_code == 200
    gate = defaults.json()
    assert {k: gate[k] for k in ("enabled", "quorum", "require_verified", "auto_submit")} == {
        "enabled": True, "quorum": 2.0, "require_verified": "auto", "auto_submit": True,
    }  # fmt: skip
    assert [(lb["name"], lb["min"], lb["max"], lb["function"], lb["copy_values"])
            for lb in gate["labels"]] == [
        ("Code-Review", -2, 2, "MaxWithBlock", [-1, 1]),
        ("Verified", -1, 1, "MaxWithBlock", []),
    ]  # fmt: skip

    qa = {"name": "QA-Tested", "min": -1, "max": 1, "function": "MaxWithBlock",
          "description": "Someone tried it by hand"}  # fmt: skip
    wanted = {"quorum": 1.5, "require_verified": "never", "labels": [*gate["labels"], qa]}
    refused = api("PUT", "/repos/alice/project/quality-gate", project.tokens["bob"], json=wanted)
    assert refused.status_code == 403 and "admin role" in refused.json()["message"]
    saved = api("PUT", "/repos/alice/project/quality-gate", project.tokens["alice"], json=wanted)
    assert saved.status_code == 200, saved.text
    after = api("GET", "/repos/alice/project/quality-gate", project.tokens["dave"]).json()
    assert (after["quorum"], after["require_verified"]) == (1.5, "never")
    assert after["labels"][-1] == {**qa, "copy_values": []}

    for bad, field, words in [
        ({"quorum": "lots"}, "quorum", "quorum must be a number"),
        ({"quorum": 0}, "quorum", "above 0"),
        ({"require_verified": "sometimes"}, "require_verified", "auto, always, never"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"labels": [{"name": "Bad Name", "min": -1, "max": 1}]}, "name", "invalid label name"),
        ({"labels": [{"name": "Up", "min": 1, "max": 2}]}, "min", "min <= 0 < max"),
        ({"labels": [{"name": "Up", "min": -1, "max": 1, "function": "Vibes"}]}, "function",
         "MaxWithBlock"),
        ({"labels": [{"name": "Code-Review", "min": -1, "max": 1}]}, "labels", "built into"),
        ({"labels": [{"name": "Up", "min": -1, "max": 1, "copy_values": [3]}]}, "copy_values",
         "not +3"),
        ({"labels": [qa, qa]}, "labels", "listed twice"),
        # A good setting beside a bad one is not saved either.
        ({"quorum": 3.0, "labels": [{"name": "X", "min": 0, "max": 9}]}, "max", "-5 to +5"),
    ]:  # fmt: skip
        answer = api("PUT", "/repos/alice/project/quality-gate", project.tokens["alice"], json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert words in answer.json()["message"], (bad, answer.json())
        assert answer.json()["errors"][0]["field"] == field, (bad, answer.json())
        now = api("GET", "/repos/alice/project/quality-gate", project.tokens["dave"]).json()
        assert now == after, bad

    # The new label is a requirement of every change; its maximum needs the privilege.
    spell_out_two(project)
    assert project.vote("maya", "Code-Review", 2).status_code == 201
    assert project.votes()["submit"]["unmet"] == ["QA-Tested: needs +1"]
    no_right = project.vote("dave", "QA-Tested", 1)
    assert (
        no_right.status_code == 403
        and "QA-Tested +1 needs the maintain role" in (no_right.json()["message"])
    )
    assert project.vote("maya", "QA-Tested", 1).status_code == 201
    assert project.votes()["submit"]["ready"] is True

    # Leaving the label out removes it, with its votes; a gate turned off lets anything in.
    off = {"enabled": False, "labels": gate["labels"]}
    assert api("PUT", "/repos/alice/project/quality-gate", project.tokens["alice"],
               json=off).status_code == 200  # fmt: skip
    answer = project.votes()
    assert [v["label"] for v in answer["votes"]] == ["Code-Review"]
    assert answer["submit"]["ready"] is True and answer["submit"]["enabled"] is False


# --- in the browser ---------------------------------------------------------------------------


def signed_in(app, login, name: str):
    return login(name, test_client=app.test_client())


def test_the_change_page_offers_only_the_votes_the_viewer_may_give(project, app, login):
    spell_out_two(project)
    dave, maya = signed_in(app, login, "dave"), signed_in(app, login, "maya")
    page = dave.get("/alice/project/pull/1").get_data(as_text=True)
    assert "Submit requirements" in page and "Not ready: 1 requirement missing" in page
    assert "needs +2 or a quorum of 2.0 weighted +1 (has 0)" in page
    assert 'value="Code-Review=1"' in page and 'value="Code-Review=-1"' in page
    assert ">Choose a vote</option>" in page  # nothing is chosen for a first vote
    assert 'value="Code-Review=2"' not in page and "Verified=" not in page
    assert 'value="Code-Review=2"' in maya.get("/alice/project/pull/1").get_data(as_text=True)
    anonymous = app.test_client().get("/alice/project/pull/1").get_data(as_text=True)
    assert "to vote." in anonymous and 'name="vote-vote"' not in anonymous

    # A forged option is refused with the privilege it needs; no CSRF token, no vote at all.
    forged = form_post(dave, "/alice/project/pull/1", "/alice/project/pull/1/votes",
                       {"vote-vote": "Code-Review=2"})  # fmt: skip
    assert forged.status_code == 403
    assert "needs the maintain role or a trust of 0.5 earned in" in forged.get_data(as_text=True)
    bare = dave.post("/alice/project/pull/1/votes", data={"vote-vote": "Code-Review=1"})
    assert bare.status_code == 400
    assert project.votes()["votes"] == []

    given = form_post(dave, "/alice/project/pull/1", "/alice/project/pull/1/votes",
                      {"vote-vote": "Code-Review=1", "vote-message": "Reads well"})  # fmt: skip
    assert given.status_code == 302 and given.headers["Location"].endswith("#votes")
    page = dave.get("/alice/project/pull/1").get_data(as_text=True)
    assert "voted <strong>Code-Review +1</strong>" in page and "Reads well" in page
    assert 'value="Code-Review=1" selected' in page  # the form shows the current vote


def test_the_quality_gate_settings_page(project, app, login):
    alice, bob = signed_in(app, login, "alice"), signed_in(app, login, "bob")
    assert bob.get("/alice/project/settings/quality").status_code == 403
    page = alice.get("/alice/project/settings/quality").get_data(as_text=True)
    assert "Quality gate" in page and "Code-Review" in page and "built in" in page
    assert "Quality gate" in alice.get("/alice/project/settings").get_data(as_text=True)

    url = "/alice/project/settings/quality"
    saved = form_post(alice, url, url, {"gate-enabled": "y", "gate-quorum": "1.0",
                                        "gate-require_verified": "always"})  # fmt: skip
    assert saved.status_code == 302
    bad = form_post(alice, url, f"{url}/labels", {"label-name": "Up", "label-min_value": "1",
                                                  "label-max_value": "2",
                                                  "label-function": "MaxWithBlock"})  # fmt: skip
    assert bad.status_code == 400 and "min &lt;= 0 &lt; max" in bad.get_data(as_text=True)
    added = form_post(alice, url, f"{url}/labels", {
        "label-name": "Security-Review", "label-min_value": "-2", "label-max_value": "2",
        "label-function": "AnyWithBlock", "label-copy_values": "-1, 1",
        "label-description": "Someone looked for holes"})  # fmt: skip
    assert added.status_code == 302
    gate = project.gh["alice"]  # read it back through the API
    answer = requests.get(
        gate.url + "/quality-gate", headers={"Authorization": f"token {project.tokens['dave']}"},
        timeout=30,
    ).json()  # fmt: skip
    assert (answer["quorum"], answer["require_verified"], answer["auto_submit"]) == (
        1.0, "always", False,
    )  # fmt: skip
    assert answer["labels"][-1]["name"] == "Security-Review"
    assert answer["labels"][-1]["copy_values"] == [-1, 1]

    removed = form_post(alice, url, f"{url}/labels/delete", {"delete-name": "Security-Review"})
    assert removed.status_code == 302
    refused = form_post(alice, url, f"{url}/labels/delete", {"delete-name": "Verified"})
    assert refused.status_code == 400 and "cannot be removed" in refused.get_data(as_text=True)


def test_a_maintainer_votes_in_the_browser_and_the_panel_turns_green(
    project,
    browser,
    live_server,
):
    spell_out_two(project)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "maya")

    page.goto(f"{live_server}/alice/project/pull/1")
    panel = page.locator("#votes")
    expect(panel.locator(".submit-head")).to_have_class("box-head submit-head not-ready")
    expect(panel.locator(".requirement.unmet")).to_contain_text(
        "Code-Review needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    )
    shot(page, "votes-not-ready")
    page.select_option("#vote-vote", "Code-Review=2")
    page.fill("#vote-message", "Clear and small")
    panel.get_by_role("button", name="Vote").click()

    expect(panel.locator(".submit-head")).to_have_class("box-head submit-head ready")
    expect(panel.locator(".submit-verdict")).to_have_text("Ready to submit")
    expect(panel.locator(".requirement.met").first).to_contain_text("approved with +2 by maya")
    expect(panel.locator(".vote-table")).to_contain_text("Clear and small")
    shot(page, "votes-ready")
    assert errors == []
    context.close()
