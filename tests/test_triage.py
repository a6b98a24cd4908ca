"""Crowdsourced triage, as its users meet it: a stranger's report starts unconfirmed, peers
confirm it with the weight of their trust in the repository (a ring of fresh accounts moves
nothing), a maintainer confirms at once, duplicates hand their confirmations and followers to
the original, the triage queue puts the reports most in need of a look first (page and API,
with claims), and confirming pays when a merged change fixes the report and costs when it is
closed as not planned."""

from __future__ import annotations

from conftest import csrf_from

REPO = "/repos/alice/project"


def _people(make_user, make_token, database, names_roles):
    """Accounts with a role on alice/project (None: no role), and their tokens."""
    from forge.accounts import users as accounts
    from forge.repos import repositories as repos

    tokens = {}
    for name, role in names_roles:
        make_user(name)
        tokens[name] = make_token(name)
        if role is not None:
            with database.session() as session:
                alice = accounts.get_user(session, "alice")
                project = repos.get_repository(session, "alice", "project", alice)
                repos.set_collaborator(session, project, alice, name, role)
    return tokens


def _followers(database, number) -> set[str]:
    from sqlalchemy import select

    from forge.issues import inbox
    from forge.models import Issue, Repository, User

    with database.session() as session:
        issue = session.scalar(
            select(Issue)
            .join(Repository)
            .where(Repository.name == "project", Issue.number == number)
        )
        ids = inbox.followers(session, issue)
        return set(session.scalars(select(User.name).where(User.id.in_(ids))))


def _report(api, token, title, body="It breaks."):
    created = api("POST", f"{REPO}/issues", token, json={"title": title, "body": body})
    assert created.status_code == 201, created.text
    return created.json()["number"]


def _confirm(api, token, number, reproducible=True, environment="Debian 12, Python 3.11"):
    return api(
        "PUT",
        f"{REPO}/issues/{number}/triage/confirmation",
        token,
        json={"reproducible": reproducible, "environment": environment},
    )


def test_trusted_peers_confirm_a_strangers_report_and_fresh_accounts_do_not(
    hosted_repo, api, make_user, make_token, database
):
    info = hosted_repo()
    tokens = _people(
        make_user, make_token, database,
        [("mallory", None), ("bob", "triage"), ("carol", "write"), ("dave", "write")],
    )  # fmt: skip
    sybils = _people(make_user, make_token, database, [(f"sock{i}", None) for i in range(6)])
    number = _report(api, tokens["mallory"], "Crash when saving")
    triage = api("GET", f"{REPO}/issues/{number}/triage", info.token).json()
    assert (triage["state"], triage["weight"], triage["threshold"]) == ("unconfirmed", 0, 2.0)
    # A writer's own report needs no confirmation.
    own = _report(api, tokens["carol"], "Typo in the README")
    assert api("GET", f"{REPO}/issues/{own}/triage", info.token).json()["state"] is None

    # Six fresh accounts "reproduce" it: they weigh nothing, however many they are.
    for token in sybils.values():
        assert _confirm(api, token, number).status_code == 200
    triage = api("GET", f"{REPO}/issues/{number}/triage", info.token).json()
    assert (triage["state"], triage["weight"], triage["reproduced_by"]) == ("unconfirmed", 0, 6)
    # The author cannot confirm their own report.
    refused = _confirm(api, tokens["mallory"], number)
    assert refused.status_code == 422 and "your own report" in refused.json()["message"]

    # bob (triager, weighs 1) confirms twice: he counts once.
    assert _confirm(api, tokens["bob"], number).json()["weight"] == 1.0
    again = _confirm(api, tokens["bob"], number, environment="Debian 12 again").json()
    assert (again["weight"], again["state"]) == (1.0, "unconfirmed")
    # dave cannot reproduce it: shown, nothing subtracted.
    assert _confirm(api, tokens["dave"], number, reproducible=False).json()["weight"] == 1.0
    # carol (writer, 1) brings it to the threshold.
    confirmed = _confirm(api, tokens["carol"], number).json()
    assert (confirmed["state"], confirmed["weight"]) == ("confirmed", 2.0)
    by_user = {c["user"]["login"]: c for c in confirmed["confirmations"]}
    assert by_user["bob"]["environment"] == "Debian 12 again"
    assert by_user["dave"]["reproducible"] is False and by_user["sock0"]["weight"] == 0

    # A raised threshold (quality gate settings) and a maintainer's decision at once.
    put = api("PUT", f"{REPO}/quality-gate", info.token, json={"triage_threshold": 5})
    assert put.status_code == 200 and put.json()["triage_threshold"] == 5
    bad = api("PUT", f"{REPO}/quality-gate", info.token, json={"triage_threshold": "many"})
    assert bad.status_code == 422
    second = _report(api, tokens["mallory"], "Another crash")
    assert _confirm(api, tokens["carol"], second).json()["state"] == "unconfirmed"
    refused = api("POST", f"{REPO}/issues/{second}/triage/confirm", sybils["sock0"])
    assert refused.status_code == 403
    decided = api("POST", f"{REPO}/issues/{second}/triage/confirm", tokens["bob"])
    assert decided.status_code == 200 and decided.json()["state"] == "confirmed"


def test_a_duplicate_hands_its_confirmations_and_followers_to_the_original(
    hosted_repo, api, make_user, make_token, database
):
    info = hosted_repo()
    tokens = _people(
        make_user, make_token, database,
        [("mallory", None), ("erin", None), ("bob", "triage"), ("carol", "write")],
    )  # fmt: skip
    original = _report(api, tokens["mallory"], "Crash when saving")
    duplicate = _report(api, tokens["erin"], "Saving crashes")
    assert _confirm(api, tokens["bob"], original).json()["weight"] == 1.0
    # bob saw both (he counts once on the original); carol saw the duplicate only.
    _confirm(api, tokens["bob"], duplicate)
    _confirm(api, tokens["carol"], duplicate, environment="macOS 14")
    # Only triagers mark duplicates.
    refused = api(
        "POST", f"{REPO}/issues/{duplicate}/triage/duplicate", tokens["mallory"],
        json={"original": original},
    )  # fmt: skip
    assert refused.status_code == 403
    marked = api(
        "POST", f"{REPO}/issues/{duplicate}/triage/duplicate", tokens["bob"],
        json={"original": original},
    )  # fmt: skip
    assert marked.status_code == 200, marked.text
    moved = marked.json()
    assert moved["issue"] == original
    assert (moved["state"], moved["weight"]) == ("confirmed", 2.0)
    by_user = {c["user"]["login"]: c["environment"] for c in moved["confirmations"]}
    assert by_user == {"bob": "Debian 12, Python 3.11", "carol": "macOS 14"}
    closed = api("GET", f"{REPO}/issues/{duplicate}", info.token).json()
    assert (closed["state"], closed["state_reason"]) == ("closed", "duplicate")
    left = api("GET", f"{REPO}/issues/{duplicate}/triage", info.token).json()
    assert left["confirmations"] == []
    # Both link each other.
    events = api("GET", f"{REPO}/issues/{duplicate}/events", info.token).json()
    assert "marked_as_duplicate" in [e["event"] for e in events]
    timeline = api("GET", f"{REPO}/issues/{original}/timeline", info.token).json()
    sources = [e["source"]["issue"]["number"] for e in timeline if e["event"] == "cross-referenced"]
    assert duplicate in sources
    # erin, who reported the duplicate, and carol, who confirmed it, follow the original now.
    assert {"erin", "carol"} <= _followers(database, original)


def test_the_triage_queue_puts_unconfirmed_unseen_reports_first_with_claims(
    hosted_repo, api, make_user, make_token, database, live_server, client, login
):
    hosted_repo()
    tokens = _people(
        make_user, make_token, database,
        [("mallory", None), ("erin", None), ("bob", "triage"), ("carol", "write"), ("dan", None)],
    )  # fmt: skip
    looked_at = _report(api, tokens["mallory"], "Seen by one")  # oldest, but seen
    by_writer = _report(api, tokens["carol"], "Report by a writer")  # needs no confirmation
    me_too = _report(api, tokens["erin"], "Many see this")
    unseen = _report(api, tokens["mallory"], "Nobody looked yet")
    _confirm(api, tokens["carol"], looked_at)
    api("POST", f"{REPO}/issues/{me_too}/reactions", tokens["dan"], json={"content": "+1"})
    api("POST", f"{REPO}/issues/{me_too}/reactions", tokens["carol"], json={"content": "+1"})

    queue = api("GET", "/triage-queue", tokens["bob"]).json()
    order = [item["number"] for item in queue]
    assert order == [me_too, unseen, looked_at, by_writer]
    assert [queue[0]["looks"], queue[0]["me_too"], queue[0]["triage_state"]] == [
        0, 2, "unconfirmed"
    ]  # fmt: skip
    # carol's queue leaves out her own report and the one she looked at.
    mine = [i["number"] for i in api("GET", f"{REPO}/triage-queue", tokens["carol"]).json()]
    assert mine == [me_too, unseen]

    # bob claims the top report: nobody else is offered it; a second claim is refused.
    claimed = api("POST", f"{REPO}/issues/{me_too}/triage/claim", tokens["bob"])
    assert claimed.status_code == 201 and claimed.json()["user"]["login"] == "bob"
    assert api("GET", "/triage-queue", tokens["bob"]).json()[0]["claimed_by"]["login"] == "bob"
    others = [i["number"] for i in api("GET", "/triage-queue", tokens["dan"]).json()]
    assert me_too not in others
    taken = api("POST", f"{REPO}/issues/{me_too}/triage/claim", tokens["carol"])
    assert taken.status_code == 409 and "claimed by bob" in taken.json()["message"]

    # The page shows the same order, and its Claim form needs its CSRF token.
    login("carol")
    page = client.get("/triage").get_data(as_text=True)
    assert "Many see this" not in page  # claimed by bob
    # Her own report and the one she looked at are not hers to triage.
    assert "Nobody looked yet" in page and "Report by a writer" not in page
    assert "Seen by one" not in page
    repo_page = client.get("/alice/project/triage").get_data(as_text=True)
    assert f"alice/project#{unseen}" in repo_page and "Review queue" in repo_page
    # Without the CSRF token the claim is refused and nothing is held.
    action = f"/alice/project/issues/{unseen}/triage/claim"
    assert client.post(action, data={}).status_code == 400
    assert api("POST", f"{REPO}/issues/{unseen}/triage/claim", tokens["bob"]).status_code == 201
    token = csrf_from(repo_page)
    released = api("DELETE", f"{REPO}/issues/{unseen}/triage/claim", tokens["bob"])
    assert released.status_code == 204
    claim = client.post(action, data={"csrf_token": token})
    assert claim.status_code == 302
    held = api("POST", f"{REPO}/issues/{unseen}/triage/claim", tokens["bob"])
    assert held.status_code == 409 and "claimed by carol" in held.json()["message"]
    # The issue page's panel takes carol's confirmation through its form (CSRF and all).
    issue_url = f"/alice/project/issues/{unseen}"
    panel = client.get(issue_url).get_data(as_text=True)
    assert "I can reproduce this" in panel and "unconfirmed" in panel
    posted = client.post(
        f"{issue_url}/triage/confirmation",
        data={"csrf_token": csrf_from(panel), "reproducible": "yes", "environment": "Fedora 40"},
    )
    assert posted.status_code == 302
    panel = client.get(issue_url).get_data(as_text=True)
    assert "Fedora 40" in panel and 'class="triage-weight">1<' in panel
    # A private repository's queue is 404 to those without access.
    hosted_repo(name="secret", private=True)
    hidden = api("GET", "/repos/alice/secret/triage-queue", tokens["dan"])
    assert hidden.status_code == 404
    hidden = api("POST", "/repos/alice/secret/issues/1/triage/claim", tokens["dan"])
    assert hidden.status_code == 404


def test_confirming_pays_when_a_merge_fixes_the_report_and_costs_when_not_planned(
    hosted_repo, api, make_user, make_token, database, git, tmp_path, github
):
    info = hosted_repo()
    tokens = _people(
        make_user, make_token, database, [("mallory", None), ("bob", "triage"), ("carol", None)]
    )
    work = git.init(tmp_path / "work", {"README.md": "# project\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    real = _report(api, tokens["mallory"], "Crash on start")
    bogus = _report(api, tokens["mallory"], "The sky is green")
    for number in (real, bogus):
        _confirm(api, tokens["bob"], number)
        _confirm(api, tokens["carol"], number)

    def history(name):
        return api("GET", f"/users/{name}/reputation", tokens[name]).json()["history"]

    git.run("checkout", "-q", "-b", "fix", cwd=work)
    git.commit(work, {"app.py": "print('fixed')\n"}, f"Do not crash on start\n\nFixes #{real}")
    git.run("push", "-q", info.push_url, "fix", cwd=work)
    repo = github(info.token).get_repo("alice/project")
    pull = repo.create_pull(title="Stop crashing", body="", base="main", head="fix")
    assert pull.merge(merge_method="merge").merged
    assert api("GET", f"{REPO}/issues/{real}", info.token).json()["state_reason"] == "completed"
    for name in ("bob", "carol"):
        paid = [e for e in history(name) if e["kind"] == "triage_fixed"]
        assert [e["delta"] for e in paid] == [2], history(name)
        assert f"alice/project#{real}" in paid[0]["reason"]

    closed = api(
        "PATCH", f"{REPO}/issues/{bogus}", info.token,
        json={"state": "closed", "state_reason": "not_planned"},
    )  # fmt: skip
    assert closed.status_code == 200
    for name in ("bob", "carol"):
        kinds = [(e["kind"], e["delta"]) for e in history(name)]
        assert ("triage_not_planned", -2) in kinds
    # Closing again (reopen, close) charges nobody twice.
    api("PATCH", f"{REPO}/issues/{bogus}", info.token, json={"state": "open"})
    api(
        "PATCH", f"{REPO}/issues/{bogus}", info.token,
        json={"state": "closed", "state_reason": "not_planned"},
    )  # fmt: skip
    kinds = [e["kind"] for e in history("bob")]
    assert kinds.count("triage_not_planned") == 1


def test_the_issue_pages_close_as_duplicate_and_the_gate_settings_threshold_work_too(
    hosted_repo, api, make_user, make_token, database, client, login, app
):
    """The tracker's own "Close as duplicate" form moves confirmations as triage's does, and the
    quality gate's settings page sets the threshold (its form needs its CSRF token)."""
    info = hosted_repo()
    tokens = _people(
        make_user, make_token, database,
        [("mallory", None), ("erin", None), ("bob", "triage"), ("carol", "write")],
    )  # fmt: skip
    original = _report(api, tokens["mallory"], "Crash when saving")
    duplicate = _report(api, tokens["erin"], "Saving crashes")
    _confirm(api, tokens["carol"], duplicate, environment="macOS 14")
    login("bob")
    page_url = f"/alice/project/issues/{duplicate}"
    closed = client.post(
        f"{page_url}/state",
        data={
            "csrf_token": csrf_from(client.get(page_url).get_data(as_text=True)),
            "reason": "duplicate",
            "duplicate_of": f"#{original}",
        },
    )
    assert closed.status_code == 302
    moved = api("GET", f"{REPO}/issues/{original}/triage", info.token).json()
    assert [c["user"]["login"] for c in moved["confirmations"]] == ["carol"]
    assert moved["weight"] == 1.0

    owner = login("alice", test_client=app.test_client())
    settings_url = "/alice/project/settings/quality"
    form = owner.get(settings_url).get_data(as_text=True)
    assert 'name="gate-triage_threshold"' in form
    saved = owner.post(
        settings_url,
        data={
            "csrf_token": csrf_from(form), "gate-enabled": "y", "gate-quorum": "2",
            "gate-require_verified": "auto", "gate-triage_threshold": "1",
        },
    )  # fmt: skip
    assert saved.status_code == 302
    gate = api("GET", f"{REPO}/quality-gate", info.token).json()
    assert gate["triage_threshold"] == 1.0
    # carol's weight (1) now reaches the threshold on her next confirmation.
    assert _confirm(api, tokens["carol"], original).json()["state"] == "confirmed"
