"""The review queue: which open changes a reviewer is offered and in what order, claims that
keep two reviewers apart, the filters, privacy, the pages and the API, and a bound on the SQL
statements a request costs however many changes it lists."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import authed, csrf_from
from playwright.sync_api import expect
from sqlalchemy import event, select, update
from support.browser import shot, sign_in, watch_console

from forge.accounts import users as accounts
from forge.db import utcnow
from forge.gate import labels as label_service
from forge.models import Change, User
from forge.models.quality import ReviewClaim
from forge.repos import repositories as repo_service


@pytest.fixture
def forge_peers(git, hosted_repo, tmp_path, make_user, make_token, api):
    """alice's public project; bob and erin upload changes; dave and carol review."""
    repo = hosted_repo()
    work = git.init(tmp_path / "alice", {"app.py": "print('hello')\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    repo.tokens = {"alice": repo.token}
    repo.clones = {}
    for name in ("bob", "carol", "dave", "erin"):
        make_user(name)
        repo.tokens[name] = make_token(name)
    repo.git, repo.tmp, repo.uploads = git, tmp_path, 0
    return repo


def upload(peers, who: str, count: int = 1, repo: str = "alice/project") -> list[int]:
    """`who` pushes `count` new changes to refs/for/main in one push; returns their numbers."""
    git = peers.git
    url = authed(f"{peers.url.rsplit('/', 2)[0]}/{repo}.git", who, peers.tokens[who])
    clone = peers.tmp / f"{who}-{repo.replace('/', '-')}"
    if not clone.exists():
        git.run("clone", "-q", url, str(clone))
        git.install_change_id_hook(clone)
    refspecs = []
    for _ in range(count):
        n = peers.uploads = peers.uploads + 1
        git.run("checkout", "-q", "-B", f"c{n}", "origin/main", cwd=clone)
        git.commit(clone, {f"change-{n}.txt": f"{n}\n"}, f"{who}'s change {n}")
        refspecs.append(f"c{n}:refs/for/main%topic={who}{n}")
    out = git.run("push", url, *refspecs, cwd=clone).stderr
    return [int(part.split(":", 1)[0]) for part in out.split("Created change #")[1:]]


def vote(api, peers, who, number, value, label="Code-Review", repo="alice/project"):
    answer = api("POST", f"/repos/{repo}/pulls/{number}/votes", peers.tokens[who],
                 json={"label": label, "value": value})  # fmt: skip
    assert answer.status_code in (200, 201), answer.text


def queue(api, peers, who: str, **params) -> list[tuple[str, int, int]]:
    answer = api("GET", "/review-queue", peers.tokens[who], params=params)
    assert answer.status_code == 200, answer.text
    return [
        (item["base"]["repo"]["full_name"], item["number"], item["qualified_votes"])
        for item in answer.json()
    ]


def test_neediest_first_then_oldest_skipping_own_and_voted(forge_peers, api):
    peers = forge_peers
    first, second, third = upload(peers, "bob", 3)
    (erins,) = upload(peers, "erin")
    vote(api, peers, "carol", first, 1)
    vote(api, peers, "dave", first, -1)
    vote(api, peers, "carol", second, 1)
    vote(api, peers, "bob", third, 1)  # an author's own vote is no review

    assert queue(api, peers, "erin") == [
        ("alice/project", third, 0),
        ("alice/project", second, 1),
        ("alice/project", first, 2),
    ]
    # carol voted on two of them; her queue has the other two, her own-less.
    assert queue(api, peers, "carol") == [
        ("alice/project", third, 0),
        ("alice/project", erins, 0),
    ]
    # A new patch set makes old votes stale: they no longer count, nor keep it off a queue.
    clone = peers.tmp / "bob-alice-project"
    peers.git.run("checkout", "-q", f"c{second}", cwd=clone)
    (clone / "more.txt").write_text("more\n")
    peers.git.run("add", "more.txt", cwd=clone)
    peers.git.run("commit", "-q", "--amend", "--no-edit", cwd=clone)  # keeps its Change-Id
    url = authed(peers.url, "bob", peers.tokens["bob"])
    peers.git.run("push", url, f"HEAD:refs/for/main%topic=bob{second}", cwd=clone)
    assert ("alice/project", second, 0) in queue(api, peers, "carol")
    # bob's queue holds only what others wrote.
    assert queue(api, peers, "bob") == [("alice/project", erins, 0)]
    # Closed changes leave every queue.
    api("PATCH", f"/repos/alice/project/pulls/{erins}", peers.tokens["erin"],
        json={"state": "closed"})  # fmt: skip
    assert ("alice/project", erins, 0) not in queue(api, peers, "dave")
    assert api("GET", "/review-queue").status_code == 401


def test_claims_keep_reviewers_apart_and_expire(forge_peers, api, database):
    peers = forge_peers
    first, second = upload(peers, "bob", 2)
    path = f"/repos/alice/project/pulls/{first}/claim"
    taken = api("POST", path, peers.tokens["carol"])
    assert taken.status_code == 201, taken.text
    assert taken.json()["claimed_by"]["login"] == "carol"
    until = taken.json()["claim_expires_at"][11:16]

    refused = api("POST", path, peers.tokens["dave"])
    assert refused.status_code == 409
    assert refused.json()["message"] == f"change #{first} is claimed by carol until {until} UTC"
    assert queue(api, peers, "dave") == [("alice/project", second, 0)]
    mine = api("GET", "/review-queue", peers.tokens["carol"]).json()
    assert mine[0]["number"] == first and mine[0]["claimed_by"]["login"] == "carol"
    assert mine[0]["claim_expires_at"] == taken.json()["claim_expires_at"]
    assert mine[1]["claimed_by"] is None
    # Claiming again renews it; the author cannot claim their own; only the claimer releases.
    assert api("POST", path, peers.tokens["carol"]).status_code == 201
    own = api("POST", path, peers.tokens["bob"])
    assert own.status_code == 422 and "your own change" in own.json()["message"]
    assert api("DELETE", path, peers.tokens["dave"]).status_code == 403

    # Thirty minutes later the claim is gone by itself.
    with database.session() as session:
        session.execute(update(ReviewClaim).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert ("alice/project", first, 0) in queue(api, peers, "dave")
    assert api("POST", path, peers.tokens["dave"]).status_code == 201
    assert api("DELETE", path, peers.tokens["dave"]).status_code == 204
    assert api("DELETE", path, peers.tokens["dave"]).status_code == 404
    with database.session() as session:
        assert session.scalars(select(ReviewClaim)).all() == []


TOO_MANY = (
    "you hold 5 claims already (the most one reviewer may hold at once); "
    "finish or release one first"
)


def claims_of(database, name: str) -> set[int]:
    """The numbers of the changes `name` holds a claim on (live or not)."""
    with database.session() as session:
        rows = session.execute(
            select(Change.number)
            .join(ReviewClaim, ReviewClaim.change_id == Change.id)
            .join(User, User.id == ReviewClaim.user_id)
            .where(User.name == name)
        )
        return {number for (number,) in rows}


def expire_claim(database, number: int) -> None:
    with database.session() as session:
        change_id = session.scalar(select(Change.id).where(Change.number == number))
        session.execute(
            update(ReviewClaim)
            .where(ReviewClaim.change_id == change_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


def test_a_reviewer_holds_at_most_five_claims(forge_peers, api, database):
    peers = forge_peers
    numbers = upload(peers, "bob", 6)
    assert len(numbers) == 6
    *five, sixth = numbers

    def claim(who, number):
        return api("POST", f"/repos/alice/project/pulls/{number}/claim", peers.tokens[who])

    for number in five:
        assert claim("carol", number).status_code == 201
    refused = claim("carol", sixth)
    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "message": TOO_MANY,
        "documentation_url": refused.json()["documentation_url"],
        "errors": [
            {"resource": "PullRequest", "field": None, "code": "invalid", "message": TOO_MANY}
        ],
    }
    assert claims_of(database, "carol") == set(five)  # nothing written
    # Renewing a claim one holds is no new claim; another reviewer counts their own.
    assert claim("carol", five[0]).status_code == 201
    assert claim("dave", sixth).status_code == 201
    assert api("DELETE", f"/repos/alice/project/pulls/{sixth}/claim",
               peers.tokens["dave"]).status_code == 204  # fmt: skip

    # Releasing one frees a slot, and taking it fills it again.
    released = api("DELETE", f"/repos/alice/project/pulls/{five[1]}/claim", peers.tokens["carol"])
    assert released.status_code == 204
    assert claim("carol", sixth).status_code == 201
    assert claim("carol", five[1]).status_code == 422
    assert claims_of(database, "carol") == set(numbers) - {five[1]}

    # An expired claim no longer counts; re-taking it is a new claim, which counts again.
    expire_claim(database, five[2])
    assert claim("carol", five[2]).status_code == 201
    assert claim("carol", five[1]).json()["message"] == TOO_MANY
    expire_claim(database, five[3])
    assert claim("carol", five[1]).status_code == 201


def test_filters_by_repository_and_label(forge_peers, api, hosted_repo, database):
    peers = forge_peers
    hosted_repo(name="tool")
    work = peers.git.init(peers.tmp / "tool", {"t.txt": "t\n"})
    peers.git.run("push", authed(f"{peers.url.rsplit('/', 1)[0]}/tool.git", "alice",
                                 peers.token), "main", cwd=work)  # fmt: skip
    (in_project,) = upload(peers, "bob")
    (in_tool,) = upload(peers, "bob", repo="alice/tool")
    assert queue(api, peers, "dave") == [
        ("alice/project", in_project, 0),
        ("alice/tool", in_tool, 0),
    ]
    assert queue(api, peers, "dave", repository="alice/tool") == [("alice/tool", in_tool, 0)]
    # A label only some repositories have: only their changes need it.
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        tool = repo_service.find_repository(session, "alice", "tool")
        label_service.save_label(session, alice, tool, label_service.LabelSpec("QA-Tested", -2, 2))
    assert queue(api, peers, "dave", label="QA-Tested") == [("alice/tool", in_tool, 0)]
    vote(api, peers, "carol", in_tool, 1, label="QA-Tested", repo="alice/tool")
    assert queue(api, peers, "dave", label="QA-Tested") == [("alice/tool", in_tool, 1)]
    assert queue(api, peers, "carol", label="QA-Tested") == []
    # Bad filters say why.
    bad = api("GET", "/review-queue", peers.tokens["dave"], params={"repository": "nope"})
    assert bad.status_code == 422 and "OWNER/NAME" in bad.json()["message"]
    missing = api("GET", "/review-queue", peers.tokens["dave"], params={"repository": "a/b"})
    assert missing.status_code == 404


def test_private_repositories_stay_invisible(forge_peers, api, hosted_repo, database):
    peers = forge_peers
    hosted_repo(name="secret", private=True)
    work = peers.git.init(peers.tmp / "secret", {"s.txt": "s\n"})
    secret_url = authed(f"{peers.url.rsplit('/', 1)[0]}/secret.git", "alice", peers.token)
    peers.git.run("push", secret_url, "main", cwd=work)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        secret = repo_service.find_repository(session, "alice", "secret")
        repo_service.set_collaborator(session, secret, alice, "bob", "write")
        repo_service.set_collaborator(session, secret, alice, "carol", "read")
    (hidden,) = upload(peers, "bob", repo="alice/secret")
    assert queue(api, peers, "dave") == []
    assert queue(api, peers, "carol") == [("alice/secret", hidden, 0)]
    assert queue(api, peers, "alice") == [("alice/secret", hidden, 0)]
    # A token without the repo scope sees public repositories only.
    public_token = accounts_token(database, "carol", "user")
    assert api("GET", "/review-queue", public_token).json() == []
    path = f"/repos/alice/secret/pulls/{hidden}/claim"
    assert api("POST", path, peers.tokens["dave"]).status_code == 404
    assert api("GET", "/review-queue", peers.tokens["dave"],
               params={"repository": "alice/secret"}).status_code == 404  # fmt: skip


def accounts_token(database, name: str, scopes: str) -> str:
    with database.session() as session:
        _row, secret = accounts.create_token(session, accounts.get_user(session, name), "t", scopes)
    return secret


def test_pages_list_filter_claim_and_refuse(forge_peers, api, client, login):
    peers = forge_peers
    first, second = upload(peers, "bob", 2)
    assert client.get("/review").status_code == 302  # sign in first
    login("dave")
    page = client.get("/review").get_data(as_text=True)
    assert 'href="/review"' in page  # the top navigation links here
    assert page.index(f"alice/project#{first}") < page.index(f"alice/project#{second}")
    repo_page = client.get("/alice/project/review").get_data(as_text=True)
    assert "Review queue" in repo_page and f"alice/project#{second}" in repo_page
    token = csrf_from(page)
    # A claim without its CSRF token changes nothing.
    assert client.post(f"/alice/project/pull/{first}/claim").status_code == 400
    claimed = client.post(f"/alice/project/pull/{first}/claim", data={"csrf_token": token})
    assert claimed.status_code == 302 and claimed.location.endswith(f"/alice/project/pull/{first}")
    # Someone else's claim is a 409 page naming them.
    api("POST", f"/repos/alice/project/pulls/{second}/claim", peers.tokens["carol"])
    refused = client.post(f"/alice/project/pull/{second}/claim", data={"csrf_token": token})
    assert refused.status_code == 409
    assert f"change #{second} is claimed by carol until" in refused.get_data(as_text=True)
    mine = client.get("/review").get_data(as_text=True)
    assert "claimed by you until" in mine and f"alice/project#{second}" not in mine
    filtered = client.get("/review?repository=alice/nothing")
    assert filtered.status_code == 404


def test_the_claim_button_says_when_the_reviewer_holds_too_many(
    forge_peers, api, client, login, database
):
    peers = forge_peers
    *five, sixth = upload(peers, "bob", 6)
    for number in five:
        claimed = api("POST", f"/repos/alice/project/pulls/{number}/claim", peers.tokens["dave"])
        assert claimed.status_code == 201
    login("dave")
    page = client.get("/alice/project/review").get_data(as_text=True)
    form = re.search(
        rf'action="/alice/project/pull/{sixth}/claim">(.*?)</form>', page, re.DOTALL
    ).group(1)
    back = re.search(r'name="next" value="([^"]+)"', form).group(1)
    assert back.startswith("/alice/project/review")
    refused = client.post(
        f"/alice/project/pull/{sixth}/claim", data={"csrf_token": csrf_from(page), "next": back}
    )
    # Back to the queue the button was on, the reason in a flash, and no claim written.
    assert refused.status_code == 302 and refused.location.endswith(back.rstrip("?"))
    shown = client.get(back).get_data(as_text=True)
    assert 'class="flash flash-error"' in shown and TOO_MANY in shown
    assert claims_of(database, "dave") == set(five)


def test_a_malformed_repository_filter_is_refused_alike_everywhere(forge_peers, api, client, login):
    """The queue page, the queue API and the reputation API read `repository=OWNER/NAME` the
    same way and refuse the same shapes with the same words."""
    peers = forge_peers
    login("dave")
    for wanted in ("nope", "alice/", "/project", "alice/project/extra"):
        told = f"repository must be OWNER/NAME, not '{wanted}'"
        page = client.get("/review", query_string={"repository": wanted})
        assert page.status_code == 400  # the web's answer to bad input, the API's is 422
        assert told.replace("'", "&#39;") in page.get_data(as_text=True)
        for path in ("/review-queue", "/users/dave/reputation"):
            answer = api("GET", path, peers.tokens["dave"], params={"repository": wanted})
            assert answer.status_code == 422 and answer.json()["message"] == told, path
    # Well-formed, it filters (and an unknown one is a 404 on all three).
    assert api("GET", "/users/dave/reputation", peers.tokens["dave"],
               params={"repository": "alice/project"}).status_code == 200  # fmt: skip
    assert client.get("/review?repository=alice/project").status_code == 200
    assert api("GET", "/users/dave/reputation", peers.tokens["dave"],
               params={"repository": "alice/nothing"}).status_code == 404  # fmt: skip


def test_sql_statements_do_not_grow_with_the_page(forge_peers, api, database):
    peers = forge_peers
    upload(peers, "bob", 12)
    upload(peers, "erin", 12)
    for number in range(1, 25, 3):
        vote(api, peers, "carol", number, 1)
    statements = []

    def count(*_args):
        statements.append(1)

    # The token's first use is written down once; count requests after that.
    assert api("GET", "/review-queue", peers.tokens["dave"]).status_code == 200
    event.listen(database.engine, "before_cursor_execute", count)
    try:
        measured = {}
        for per_page in (2, 20, 2):
            statements.clear()
            listed = api("GET", "/review-queue", peers.tokens["dave"],
                         params={"per_page": per_page})  # fmt: skip
            assert len(listed.json()) == per_page
            measured[per_page] = len(statements)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert measured[2] == measured[20], measured
    assert measured[20] <= 12, measured


def test_a_reviewer_claims_votes_and_the_change_leaves_the_queue(
    browser,
    forge_peers,
    live_server,
):
    peers = forge_peers
    first, second = upload(peers, "bob", 2)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "dave")
    page.click(".nav-right a:text-is('Review')")
    rows = page.locator(".review-queue li")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"alice/project#{first}")
    shot(page, "review-queue")
    rows.first.locator("button:text-is('Claim')").click()
    expect(page).to_have_url(f"{live_server}/alice/project/pull/{first}")
    expect(page.locator(".flash")).to_contain_text(f"You claimed #{first} for review until")
    page.select_option("#vote-vote", "Code-Review=1")
    page.click(".vote-form button[type=submit]")
    expect(page.locator(".vote-table")).to_contain_text("dave")
    page.goto(f"{live_server}/review")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"alice/project#{second}")
    shot(page, "review-queue-after-vote")
    assert errors == []
    context.close()
