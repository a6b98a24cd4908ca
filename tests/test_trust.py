"""The quality gate against sock puppets, played as the attack was: fresh accounts made in the
sign-up form vote through the API on an outsider's change pushed with real git, a real rq
worker runs auto-submit, and the change must not merge; then what trusted people do still
merges, and names who did it.

The cast in alice's public repository `project`: maya maintains, bob writes, carol is an
outsider who proposes changes, and the puppets are accounts made a minute earlier.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import PASSWORD, authed, csrf_from, form_post
from playwright.sync_api import expect
from sqlalchemy import select
from support.browser import shot, sign_in, watch_console
from support.ci import work

from forge.accounts import privileges, trust, trust_edges
from forge.accounts import users as accounts
from forge.ci.runs import _is_newcomer
from forge.gate import quality_gate
from forge.gate import votes as vote_service
from forge.models import Change
from forge.models.quality import TrustEdge
from forge.repos import repositories as repos


@pytest.fixture
def settings(settings):
    """Sign-up as open as it gets: the gate must hold whatever sign-up lets through."""
    settings.signup_rate = 1000
    return settings


def sign_up(app, name: str) -> None:
    """A fresh account, made the way anyone can: the sign-up form."""
    visitor = app.test_client()
    token = csrf_from(visitor.get("/signup").get_data(as_text=True))
    answer = visitor.post(
        "/signup",
        data={"username": name, "email": f"{name}@puppets.example", "password": PASSWORD,
              "csrf_token": token},
    )  # fmt: skip
    assert answer.status_code == 302, answer.get_data(as_text=True)


@pytest.fixture
def attack(git, hosted_repo, tmp_path, make_user, make_token, database, api, app, ci):
    repo = hosted_repo()
    work_dir = git.init(tmp_path / "alice", {"app.py": "print('hello')\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work_dir)
    for name in ("maya", "bob", "carol", "tess"):
        make_user(name)
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        project = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, project, owner, "maya", "maintain")
        repos.set_collaborator(session, project, owner, "bob", "write")
    tokens = {"alice": repo.token}
    tokens.update({name: make_token(name) for name in ("maya", "bob", "carol", "tess")})
    carol_url = authed(repo.url, "carol", tokens["carol"])
    clone = tmp_path / "carol"
    git.run("clone", "-q", carol_url, str(clone))
    git.install_change_id_hook(clone)

    def propose(path: str, text: str, title: str) -> int:
        """carol pushes a change for review with real git; returns its number."""
        git.run("checkout", "-q", "-B", path.replace(".", "-"), "origin/main", cwd=clone)
        git.commit(clone, {path: text}, title)
        out = git.run("push", carol_url, "HEAD:refs/for/main", cwd=clone)
        return int(out.stderr.split("Created change #", 1)[1].split(":", 1)[0])

    def vote(who: str, number: int, value: int, token: str | None = None, message: str = ""):
        body = {"label": "Code-Review", "value": value, "message": message}
        answer = api("POST", f"/repos/alice/project/pulls/{number}/votes",
                     token or tokens[who], json=body)  # fmt: skip
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def pull(number: int) -> dict:
        answer = api("GET", f"/repos/alice/project/pulls/{number}", tokens["alice"])
        assert answer.status_code == 200, answer.text
        return answer.json()

    def puppets(count: int, prefix: str = "sock") -> dict[str, str]:
        """`count` fresh accounts from the sign-up form, each with a token for the API."""
        made = {}
        for i in range(count):
            name = f"{prefix}{i}"
            sign_up(app, name)
            made[name] = make_token(name)
        return made

    return SimpleNamespace(repo=repo, tokens=tokens, propose=propose, vote=vote, pull=pull,
                           puppets=puppets, work_dir=work_dir)  # fmt: skip


def test_four_fresh_accounts_cannot_merge_an_outsiders_change(attack, settings, api):
    number = attack.propose("app.py", "print('pwned')\n", "Harmless, promise")
    for name, token in attack.puppets(4).items():
        answer = attack.vote(name, number, 1, token)
    # Each puppet's vote shows on the change, advisory: it weighs nothing toward the quorum.
    puppet_votes = [v for v in answer["votes"] if v["user"].startswith("sock")]
    assert len(puppet_votes) == 4
    assert {(v["weight"], v["advisory"], v["counted"]) for v in puppet_votes} == {
        (0.0, True, False)
    }
    assert puppet_votes[0]["reason"] == "no standing in the repository yet: the vote is advisory"
    assert answer["submit"]["unmet"] == [
        "Code-Review: needs +2 or a quorum of 2.0 weighted +1 (has 0)"
    ]
    work(settings)  # auto-submit is on: whatever it would do, it has done now
    assert attack.pull(number)["state"] == "open"
    assert attack.pull(number)["merged"] is False


def test_fifty_fresh_accounts_cannot_merge_it_either(attack, settings, database):
    number = attack.propose("app.py", "print('pwned')\n", "Harmless, promise")
    for name, token in attack.puppets(50).items():
        answer = attack.vote(name, number, 1, token)
    assert sum(v["weight"] for v in answer["votes"]) == 0
    assert answer["submit"]["ready"] is False
    work(settings)
    assert attack.pull(number)["state"] == "open"
    with database.session() as session:
        assert session.scalar(select(Change).where(Change.number == number)).state == "open"


def test_a_trusted_plus_two_still_merges_and_names_who_merged_it(attack, settings, git, tmp_path):
    number = attack.propose("app.py", "print('hello, world')\n", "Greet the world")
    for name, token in attack.puppets(4).items():
        attack.vote(name, number, 1, token)
    attack.vote("maya", number, 2)
    work(settings)  # auto-submit: maya's vote made it submittable, so the merge is hers
    merged = attack.pull(number)
    assert merged["merged"] is True
    assert merged["merged_by"]["login"] == "maya"  # not alice, who took no part
    check = tmp_path / "check"
    git.run("clone", "-q", attack.repo.push_url, str(check))
    author = git.run("log", "-1", "--format=%an <%ae>", cwd=check).stdout.strip()
    assert author == "maya <maya@example.org>"
    assert "Merge change #1" in git.run("log", "-1", "--format=%s", cwd=check).stdout


def test_trusted_plus_ones_merge_and_the_last_vote_that_made_it_submittable_names_the_merger(
    attack, settings, api
):
    number = attack.propose("app.py", "print('hello, world')\n", "Greet the world")
    attack.vote("bob", number, 1)  # a writer weighs 1.0 and approves
    # tess has no role yet: her +1 is advisory.
    answer = attack.vote("tess", number, 1)
    tess = next(v for v in answer["votes"] if v["user"] == "tess")
    assert (tess["weight"], tess["advisory"]) == (0.0, True)
    assert answer["submit"]["ready"] is False
    work(settings)
    assert attack.pull(number)["state"] == "open"

    # alice grants tess the triage role: her +1 counts now, and makes the quorum.
    granted = api("PUT", "/repos/alice/project/collaborators/tess", attack.tokens["alice"],
                  json={"permission": "triage"})  # fmt: skip
    assert granted.status_code in (201, 204), granted.text
    weighed = api("GET", "/repos/alice/project/trust/tess", attack.tokens["carol"]).json()
    assert (weighed["weight"], weighed["role"], weighed["reason"]) == (
        1.0, "triage", "the triage role",
    )  # fmt: skip
    # Her +1 counts at once; she says why she voted, and that vote makes it submittable.
    answer = attack.vote("tess", number, 1, message="Tried it: greets the world")
    assert answer["submit"]["ready"] is True
    work(settings)
    merged = attack.pull(number)
    assert merged["merged"] is True
    assert merged["merged_by"]["login"] == "tess"


def test_puppets_who_merge_each_others_changes_at_home_weigh_nothing_here(
    attack, settings, api, git, tmp_path, github, database, live_server
):
    puppets = attack.puppets(2, prefix="ring")
    # ring0 makes a repository of its own; ring1 proposes a change there, ring0 merges it.
    github(puppets["ring0"]).get_user().create_repo("farm")
    home_dir = git.init(tmp_path / "ring0", {"crops.txt": "nothing yet\n"})
    git.run("push", "-q", authed(f"{live_server}/ring0/farm.git", "ring0", puppets["ring0"]),
            "HEAD:main", cwd=home_dir)  # fmt: skip
    farm_url = authed(f"{live_server}/ring0/farm.git", "ring1", puppets["ring1"])
    clone = tmp_path / "farm"
    git.run("clone", "-q", farm_url, str(clone))
    git.install_change_id_hook(clone)
    git.commit(clone, {"crops.txt": "wheat\n"}, "Plant wheat")
    git.run("push", farm_url, "HEAD:refs/for/main", cwd=clone)
    approved = api("POST", "/repos/ring0/farm/pulls/1/votes", puppets["ring0"],
                   json={"label": "Code-Review", "value": 2})  # fmt: skip
    assert approved.status_code == 201, approved.text
    merged = api("PUT", "/repos/ring0/farm/pulls/1/merge", puppets["ring0"], json={})
    assert merged.status_code == 200, merged.text

    # At home ring1 earned trust (and reputation: that is history, and stays).
    home = api("GET", "/repos/ring0/farm/trust/ring1", puppets["ring1"]).json()
    assert home["weight"] == 0.25 and home["sources"] == [{"user": "ring0", "amount": 0.25}]
    assert api("GET", "/users/ring1/reputation").json()["reputation"] > 0
    # In alice's repository it weighs nothing, and its vote there is advisory.
    here = api("GET", "/repos/alice/project/trust/ring1", puppets["ring1"]).json()
    assert (here["weight"], here["earned"]) == (0.0, 0.0)
    number = attack.propose("app.py", "print('pwned')\n", "Harmless, promise")
    answer = attack.vote("ring1", number, 1, puppets["ring1"])
    assert next(v for v in answer["votes"] if v["user"] == "ring1")["advisory"] is True
    # And what it merged at home does not spare its changes here the newcomer CI approval.
    with database.session() as session:
        ring1 = accounts.get_user(session, "ring1")
        farm = repos.find_repository(session, "ring0", "farm")
        project = repos.find_repository(session, "alice", "project")
        assert _is_newcomer(session, farm, ring1) is False
        assert _is_newcomer(session, project, ring1) is True


def test_a_maintainers_vouch_lends_trust_and_taking_it_back_returns_it(attack, api):
    number = attack.propose("app.py", "print('hello, world')\n", "Greet the world")
    attack.vote("carol", number, 1)  # her own: never counts
    outsider = attack.puppets(1, prefix="newbie")["newbie0"]
    lent = api("PUT", "/repos/alice/project/trust/newbie0/vouch", attack.tokens["maya"],
               json={"amount": 0.5})  # fmt: skip
    assert lent.status_code == 200, lent.text
    assert (lent.json()["weight"], lent.json()["sources"]) == (
        0.5, [{"user": "maya", "amount": 0.5}],
    )  # fmt: skip
    assert api("GET", "/repos/alice/project/trust/maya", None).json()["vouches"] == [
        {"user": "newbie0", "amount": 0.5}
    ]
    answer = attack.vote("newbie0", number, 1, outsider)
    newbie = next(v for v in answer["votes"] if v["user"] == "newbie0")
    # A maintainer's full vouch is an approver's trust (`approver_trust`), as the triage role is.
    assert (newbie["weight"], newbie["counted"], newbie["approver"]) == (0.5, True, True)
    # Someone without trust has none to lend; a vouch past the limit is refused.
    refused = api("PUT", "/repos/alice/project/trust/newbie0/vouch", attack.tokens["carol"],
                  json={"amount": 0.1})  # fmt: skip
    assert refused.status_code == 403 and "no trust" in refused.json()["message"]
    # What newbie0 lends on is no longer theirs: trust moves, it does not multiply.
    passed_on = api("PUT", "/repos/alice/project/trust/carol/vouch", outsider, json={"amount": 0.2})
    assert passed_on.status_code == 200 and passed_on.json()["weight"] == 0.2
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.3
    assert api("DELETE", "/repos/alice/project/trust/carol/vouch", outsider).status_code == 204
    too_much = api("PUT", "/repos/alice/project/trust/carol/vouch", attack.tokens["maya"],
                   json={"amount": 5})  # fmt: skip
    assert too_much.status_code == 422
    taken = api("DELETE", "/repos/alice/project/trust/newbie0/vouch", attack.tokens["maya"])
    assert taken.status_code == 204
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.0


def test_the_community_quorum_lets_earned_trust_merge_only_when_the_admins_say_so(
    attack, api, database
):
    number = attack.propose("app.py", "print('hello, world')\n", "Greet the world")
    helpers = attack.puppets(5, prefix="regular")  # each short of an approver's trust
    with database.session() as session:  # what merges of their changes by maya gave them
        project = repos.find_repository(session, "alice", "project")
        maya = accounts.get_user(session, "maya")
        for name in helpers:
            session.add(
                TrustEdge(repository_id=project.id, truster_id=maya.id,
                          trustee_id=accounts.get_user(session, name).id, kind="merged",
                          amount=0.4)
            )  # fmt: skip
    for name, token in helpers.items():
        answer = attack.vote(name, number, 1, token)
    assert answer["submit"]["ready"] is False
    assert "none is an approval by a triager, writer or maintainer" in answer["submit"]["unmet"][0]
    switched = api("PUT", "/repos/alice/project/quality-gate", attack.tokens["alice"],
                   json={"community_quorum": True})  # fmt: skip
    assert switched.status_code == 200 and switched.json()["community_quorum"] is True
    answer = api("GET", f"/repos/alice/project/pulls/{number}/votes", None).json()
    assert answer["submit"]["ready"] is True


def test_fifty_sybils_weigh_no_more_than_the_trust_honest_people_gave_them(
    attack, database, settings
):
    """The bound, with 50 accounts that do everything a ring can do among themselves: merge
    each other's changes, agree with each other and vouch for each other, on top of copying
    every honest decision. What they hold together stays within the attack edges."""
    number = attack.propose("app.py", "print('pwned')\n", "Harmless, promise")
    with database.session() as session:
        rules = privileges.rules_of(session)
        project = repos.find_repository(session, "alice", "project")
        maya = accounts.get_user(session, "maya")
        bob = accounts.get_user(session, "bob")
        ring = [
            accounts.create_user(session, f"sybil{i}", f"s{i}@puppets.example", PASSWORD)
            for i in range(50)
        ]
        session.flush()
        change = session.scalar(select(Change).where(Change.number == number))
        # The attack edges: maya merged one change of sybil0, bob vouched 0.5 for sybil1,
        # and all fifty copied maya's verdict on an honest change (one share, split fifty ways).
        assert trust_edges.give(
            session, project, maya, ring[0], "merged", rules.trust_merged, rules
        )
        assert trust_edges.vouch(session, bob, project, ring[1], 0.5, rules)
        trust_edges.settle_merged(session, change, maya, ring, rules)
        attack_edges = sum(
            edge.amount
            for edge in session.scalars(
                select(TrustEdge).where(TrustEdge.trustee_id.in_([u.id for u in ring]))
            )
            if edge.truster_id in (maya.id, bob.id)
        )
        # Everything inside the ring: every sybil merges every other's change and vouches.
        for i, truster in enumerate(ring):
            for j, trustee in enumerate(ring):
                if i != j:
                    session.add(
                        TrustEdge(repository_id=project.id, truster_id=truster.id,
                                  trustee_id=trustee.id, kind="merged", amount=1.0)
                    )  # fmt: skip
        session.flush()
        trust.forget(session)
        held = privileges.standings(session, project, ring)
        total = sum(who.weight for who in held.values())
        assert 0 < total <= attack_edges + 1e-9
        assert attack_edges == pytest.approx(0.25 + 0.5 + rules.trust_agreed)
        # No account holds more than bob's vouch lent one: the ring's own edges added nothing.
        assert max(who.weight for who in held.values()) <= 0.5
        # All fifty +1 on the change: nowhere near the quorum, and no approval among them.
        for user in ring:
            vote_service.record_vote(session, user, change, "Code-Review", 1)
        status = quality_gate.submit_status(session, settings.repos_dir, change)
        assert status.ready is False
        assert "needs +2 or a quorum of 2.0 weighted +1" in status.unmet[0]


def test_the_flow_prefers_those_nearest_the_maintainers_and_ignores_the_suspended():
    """The flow itself, on a small graph: trust passes a person only past what they keep."""
    rules = privileges.ReputationRules()
    maya, ann, ben, cat = 1, 2, 3, 4
    rows = [
        (maya, ann, "merged", 1.5),  # more than ann can hold: 0.5 flows on through her
        (ann, ben, "merged", 1.0),
        (ben, cat, "merged", 1.0),  # ben holds only what came through ann: nothing for cat
    ]
    earned = trust._flow(rows, {maya}, set(), rules)
    assert earned.trust == {ann: 1.0, ben: 0.5}
    assert earned.sources[ben] == [(ann, 0.5)]
    suspended = trust._flow(rows, {maya}, {ann}, rules)
    assert suspended.trust == {}


def test_the_trust_page_explains_a_weight_and_a_maintainer_vouches_in_the_browser(
    attack,
    app,
    login,
    browser,
    live_server,
):
    attack.puppets(1, prefix="newbie")
    # A stranger reads why a vote weighs what it does; someone without trust gets no form.
    carol = login("carol", test_client=app.test_client())
    page = carol.get("/alice/project/trust/newbie0")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "no standing in the repository yet: the vote is advisory" in text
    assert "Vouch for newbie0" not in text
    refused = form_post(carol, "/alice/project/trust/newbie0",
                        "/alice/project/trust/newbie0/vouch", {"vouch-amount": "0.2"})  # fmt: skip
    assert refused.status_code == 403 and "no trust" in refused.get_data(as_text=True)
    bare = carol.post("/alice/project/trust/newbie0/vouch", data={"vouch-amount": "0.2"})
    assert bare.status_code == 400  # no CSRF token, no vouch
    assert "the write role" in carol.get("/alice/project/trust/bob").get_data(as_text=True)

    # maya vouches in a real browser; the page then shows the lent trust and where it came from.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors = watch_console(tab)
    sign_in(tab, live_server, "maya")
    tab.goto(f"{live_server}/alice/project/trust/newbie0")
    expect(tab.locator("#trust-weight")).to_have_text("0")
    tab.fill("#vouch-amount", "0.4")
    tab.get_by_role("button", name="Vouch").click()
    expect(tab.locator("#trust-weight")).to_have_text("0.4")
    expect(tab.locator(".trust-sources")).to_contain_text("maya: 0.4")
    shot(tab, "trust-vouched")
    tab.get_by_role("button", name="Take back your vouch (0.4)").click()
    expect(tab.locator("#trust-weight")).to_have_text("0")
    assert errors == []
    context.close()


def test_a_puppets_claim_does_not_hold_a_change_away_from_a_trusted_reviewer(attack, api):
    number = attack.propose("app.py", "print('hello, world')\n", "Greet the world")
    puppet = attack.puppets(1)["sock0"]
    path = f"/repos/alice/project/pulls/{number}/claim"
    assert api("POST", path, puppet).status_code == 201
    taken = api("POST", path, attack.tokens["maya"])
    assert taken.status_code == 201, taken.text
    assert taken.json()["claimed_by"]["login"] == "maya"
    # The other way round the claim holds: a trusted reviewer's claim keeps the puppet out.
    refused = api("POST", path, puppet)
    assert refused.status_code == 409 and "claimed by maya" in refused.json()["message"]


def test_trust_from_an_account_later_suspended_is_gone_at_once(attack, api, database):
    attack.puppets(1, prefix="newbie")
    lent = api("PUT", "/repos/alice/project/trust/newbie0/vouch", attack.tokens["maya"],
               json={"amount": 0.5})  # fmt: skip
    assert lent.json()["weight"] == 0.5
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.5
    with database.session() as session:
        accounts.get_user(session, "maya").is_suspended = True
    # Nothing about the edges changed, but the flow's answer did: no stale weight is served.
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.0


def test_a_vouch_moved_to_someone_else_moves_the_weight(attack, api):
    """The same number of edges, the same amounts, even (on SQLite) the same row id: only who
    holds the trust changed, and that is what the next request sees."""
    attack.puppets(2, prefix="newbie")
    vouch = "/repos/alice/project/trust/{}/vouch"
    assert api("PUT", vouch.format("newbie0"), attack.tokens["maya"], json={"amount": 0.5}).ok
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.5
    assert api("DELETE", vouch.format("newbie0"), attack.tokens["maya"]).status_code == 204
    assert api("PUT", vouch.format("newbie1"), attack.tokens["maya"], json={"amount": 0.5}).ok
    assert api("GET", "/repos/alice/project/trust/newbie0", None).json()["weight"] == 0.0
    assert api("GET", "/repos/alice/project/trust/newbie1", None).json()["weight"] == 0.5
