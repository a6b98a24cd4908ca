"""Search as its users meet it: PyGithub's search_* calls, the top bar's results page in
Chromium, and the code index following real pushes (and a real history, flask's).

The code index is written by the background job a push to the default branch leaves in the
outbox; the tests run a real rq worker until the queue is empty (`index`), as `forge worker`
would. Every search runs on the suite's database: SQLite's FTS5 by default, PostgreSQL's
tsvector when DATABASE_URL is set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import authed, forge_cli
from github import GithubException
from playwright.sync_api import expect
from support.browser import shot, sign_in, watch_console
from support.github_schema import github_response_errors

from forge.worker import run_worker

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"

GREETER = '''"""Greetings."""


def greet_visitor(name):
    return f"Hello, {name}!"


class Doorbell:
    def ring(self):
        return "ding dong"
'''


def index(settings) -> None:
    """What `forge worker` does with the jobs pushes leave: index, maintain."""
    run_worker(settings.redis_url, ["default"], burst=True)


@pytest.fixture
def project(ci, git, hosted_repo, tmp_path):
    """alice's public project, pushed with real git and indexed by a real worker."""
    repo = hosted_repo()
    files = {"README.md": "# Greeter\n\nSays hello.\n", "src/greeter.py": GREETER}
    repo.work = git.init(tmp_path / "work", files)
    git.run("push", repo.push_url, "main", cwd=repo.work)
    return repo


def code_paths(client, query: str) -> list[str]:
    return [f"{item.repository.full_name}:{item.path}" for item in client.search_code(query)]


def test_pygithub_finds_repositories_changes_code_and_users(
    project, git, github, settings, make_user, make_token, api
):
    index(settings)
    alice = github(project.token)

    found = alice.search_repositories("greeter")
    assert found.totalCount == 0, "the description is what is searched, not the README"
    repo = alice.get_repo("alice/project")
    repo.edit(description="A friendly greeter")
    found = alice.search_repositories("greeter")
    assert [r.full_name for r in found] == ["alice/project"]
    assert [r.full_name for r in alice.search_repositories("project", user="alice")] == [
        "alice/project"
    ]

    # Changes: GitHub returns pull requests from /search/issues.
    git.run("checkout", "-q", "-b", "doorbell", cwd=project.work)
    git.commit(project.work, {"src/bell.py": "BELL = 'ring'\n"}, "Add a doorbell")
    git.run("push", project.push_url, "doorbell", cwd=project.work)
    git.run("checkout", "-q", "-b", "typo", "main", cwd=project.work)
    git.commit(project.work, {"README.md": "# Greeter\n\nSays hello!\n"}, "Fix a typo")
    git.run("push", project.push_url, "typo", cwd=project.work)
    bell = repo.create_pull(
        title="Ring the doorbell", body="Visitors ring a bell", head="doorbell", base="main"
    )
    typo = repo.create_pull(title="Fix a typo", body="The doorbell line", head="typo", base="main")
    make_user("bob")
    bob = github(make_token("bob"))
    pulls = bob.search_issues("doorbell", repo="alice/project", is_="pr")
    assert {p.number for p in pulls} == {bell.number, typo.number}
    titled = bob.search_issues("doorbell", repo="alice/project", is_="pr", in_="title")
    assert [p.number for p in titled] == [bell.number]
    assert titled[0].pull_request is not None and titled[0].state == "open"
    assert titled[0].title == "Ring the doorbell"
    oldest_first = bob.search_issues("doorbell", sort="created", order="asc")
    assert [p.number for p in oldest_first] == [bell.number, typo.number]
    newest_first = bob.search_issues("doorbell", sort="created", order="desc")
    assert [p.number for p in newest_first] == [typo.number, bell.number]
    typo.edit(state="closed")
    assert [p.number for p in bob.search_issues("doorbell", is_="closed")] == [typo.number]
    assert [p.number for p in bob.search_issues("doorbell", is_="open")] == [bell.number]
    assert [p.number for p in bob.search_issues("is:pr author:alice bell")] == [bell.number]
    assert bob.search_issues("doorbell", author="bob").totalCount == 0
    assert bob.search_issues("doorbell", is_="merged").totalCount == 0

    # Issues come from the same search; is:issue keeps them, is:pr the changes.
    report = repo.create_issue(title="The doorbell is silent", body="Nothing rings")
    found = list(bob.search_issues("doorbell is:issue"))
    assert [(i.number, i.pull_request) for i in found] == [(report.number, None)]
    both = bob.search_issues("doorbell", repo="alice/project")
    assert {i.number for i in both} == {bell.number, typo.number, report.number}
    assert [i.number for i in bob.search_issues("rings author:alice is:open")] == [report.number]
    answer = api("GET", "/search/issues?q=doorbell+is:issue", project.token,
                 headers={"Accept": "application/vnd.github.text-match+json"})  # fmt: skip
    assert github_response_errors("GET", "/search/issues", 200, answer.json()) == []
    assert answer.json()["items"][0]["text_matches"][0]["matches"][0]["text"] == "doorbell"
    report.edit(title="The bell is silent", state="closed")  # the document follows the edit
    assert bob.search_issues("doorbell is:issue").totalCount == 0
    assert [i.number for i in bob.search_issues("silent is:issue is:closed")] == [report.number]

    # Code: the default branch's files, by words, phrases and qualifiers.
    assert code_paths(bob, "greet_visitor") == ["alice/project:src/greeter.py"]
    assert code_paths(bob, '"ding dong" repo:alice/project') == ["alice/project:src/greeter.py"]
    assert code_paths(bob, "hello language:markdown") == ["alice/project:README.md"]
    assert code_paths(bob, "hello extension:py") == ["alice/project:src/greeter.py"]
    assert code_paths(bob, "hello path:src") == ["alice/project:src/greeter.py"]
    assert code_paths(bob, "hello filename:README.md user:alice") == ["alice/project:README.md"]
    assert code_paths(bob, "hello -visitor") == ["alice/project:README.md"]
    assert code_paths(bob, "BELL") == [], "a branch that is not the default is not indexed"
    item = bob.search_code("Doorbell")[0]
    assert item.name == "greeter.py" and item.repository.full_name == "alice/project"
    assert item.decoded_content.decode() == GREETER, "the item leads to the file's contents"

    # What the text matched, when asked for (GitHub's text-match media type).
    answer = api(
        "GET", "/search/code?q=ding+repo:alice/project", project.token,
        headers={"Accept": "application/vnd.github.text-match+json"},
    )  # fmt: skip
    matches = answer.json()["items"][0]["text_matches"]
    assert [m["fragment"] for m in matches if m["matches"]] == ['        return "ding dong"']
    assert matches[0]["matches"][0]["text"] == "ding"

    assert [u.login for u in bob.search_users("bo")] == ["bob"]
    assert {u.login for u in bob.search_users("o")} == {"bob"}, "alice has no o"


def test_bad_searches_are_refused_with_githubs_422(project, github, api):
    for query in ("", "is:sideways repo:alice/project", "x repo:alice/nothing", "x user:nobody"):
        answer = api("GET", f"/search/issues?q={query}", project.token)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["message"]
    answer = api("GET", "/search/code?q=" + "x" * 300, project.token)
    assert answer.status_code == 422
    with pytest.raises(GithubException) as refused:
        list(github(project.token).search_code("x", repo="alice/nothing"))
    assert refused.value.status == 422


def test_private_code_is_found_by_its_collaborator_only(
    ci, git, hosted_repo, tmp_path, settings, github, make_user, make_token, database
):
    from forge.accounts import users as accounts
    from forge.repos import repositories as repo_service

    secret = hosted_repo(name="vault", private=True)
    work = git.init(tmp_path / "vault", {"combination.txt": "the combination is swordfish\n"})
    git.run("push", secret.push_url, "main", cwd=work)
    make_user("carol")
    make_user("mallory")
    with database.session() as session:
        vault = repo_service.get_repository(
            session, "alice", "vault", accounts.get_user(session, "alice")
        )
        repo_service.set_collaborator(
            session, vault, accounts.get_user(session, "alice"), "carol", "read"
        )
    index(settings)

    github(secret.token).get_repo("alice/vault").create_issue("Swordfish leaked", body="rotate")
    carol = github(make_token("carol"))
    assert code_paths(carol, "swordfish") == ["alice/vault:combination.txt"]
    assert [i.title for i in carol.search_issues("swordfish is:issue")] == ["Swordfish leaked"]
    assert [r.full_name for r in carol.search_repositories("vault")] == ["alice/vault"]
    for outsider in (
        github(make_token("mallory")),
        github(None),
        # carol's own token, without the `repo` scope, is anonymous to private repositories.
        github(make_token("carol", scopes="user")),
    ):
        assert code_paths(outsider, "swordfish") == []
        assert outsider.search_repositories("vault").totalCount == 0
        assert outsider.search_issues("swordfish").totalCount == 0
    with pytest.raises(GithubException) as refused:
        list(github(make_token("mallory")).search_code("swordfish", repo="alice/vault"))
    assert refused.value.status == 422, "a repository one may not see is refused as missing"


def test_pushes_keep_the_code_index_current_and_bounded(project, git, github, settings, api):
    index(settings)
    alice = github(project.token)
    assert code_paths(alice, "greet_visitor") == ["alice/project:src/greeter.py"]

    big = "word " * (400 * 1024 // 5)
    git.commit(
        project.work,
        {"src/greeter.py": GREETER.replace("greet_visitor", "welcome_guest"),
         "docs/big.txt": big + "needle\n", "logo.bin": "needle\0binary"},
        "Rename the greeting",
    )  # fmt: skip
    git.run("rm", "-q", "README.md", cwd=project.work)
    git.run("commit", "-q", "-m", "No README", cwd=project.work)
    git.run("push", project.push_url, "main", cwd=project.work)
    index(settings)

    assert code_paths(alice, "greet_visitor") == [], "the old text is no longer found"
    assert code_paths(alice, "welcome_guest") == ["alice/project:src/greeter.py"]
    assert code_paths(alice, "hello") == ["alice/project:src/greeter.py"], "README is gone"
    assert code_paths(alice, "needle") == [], "binary and oversized files are left out"
    answer = api("GET", "/search/code?q=needle+repo:alice/project", project.token).json()
    assert answer["total_count"] == 0

    # The results page says what the index left out.
    import requests

    page = requests.get(
        f"{project.url.rsplit('/alice/', 1)[0]}/search",
        params={"q": "hello repo:alice/project", "type": "code"},
        timeout=30,
    )
    assert "1 file(s) over 384 KB are not searched" in page.text
    assert "1 binary file(s) are not searched" in page.text


def test_a_push_deleting_the_default_branch_empties_its_index(project, git, github, settings):
    index(settings)
    git.run("push", project.push_url, "main:other", cwd=project.work)
    git.run("push", project.push_url, ":main", cwd=project.work, check=False)
    index(settings)
    # Whether or not forge lets the default branch go, the index follows what is there.
    heads = git.run("ls-remote", project.push_url, "refs/heads/main").stdout
    expected = ["alice/project:src/greeter.py"] if heads.strip() else []
    assert code_paths(github(project.token), "greet_visitor") == expected


def test_the_reindex_command_indexes_whole_repositories(project, settings, github):
    # No worker ran: the push's job still waits on the queue; the command does not need it.
    done = forge_cli("search", "reindex", home=settings.home,
                     env={"DATABASE_URL": settings.database_url})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "alice/project: 2 files indexed at" in done.stdout
    assert code_paths(github(project.token), "greet_visitor") == ["alice/project:src/greeter.py"]
    refused = forge_cli("search", "reindex", "alice/nothing", home=settings.home,
                        env={"DATABASE_URL": settings.database_url})  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip() == "forge: error: no repository alice/nothing"


def test_a_real_history_is_indexed_and_a_known_function_found(
    ci, git, hosted_repo, tmp_path, settings, github
):
    bundle = TESTDATA / "flask.bundle"
    if not bundle.exists():
        pytest.fail(f"{bundle} is missing: the real histories are shared there")
    repo = hosted_repo(name="flask")
    clone = tmp_path / "flask"
    git.run("clone", "-q", str(bundle), str(clone), timeout=300)
    branch = git.run("symbolic-ref", "--short", "HEAD", cwd=clone).stdout.strip()
    git.run("push", "-q", repo.push_url, f"{branch}:main", cwd=clone, timeout=600)
    index(settings)
    alice = github(repo.token)
    found = code_paths(alice, '"def url_for" repo:alice/flask language:python')
    assert "alice/flask:src/flask/helpers.py" in found, found
    listed = git.run("ls-tree", "-r", "--name-only", "HEAD", cwd=clone).stdout.split()
    total = alice.search_code("flask repo:alice/flask").totalCount
    assert 0 < total <= len(listed)


def test_the_top_bar_search_shows_tabs_counts_and_marked_matches(
    project, browser, live_server, settings, git, github
):
    index(settings)
    repo = github(project.token).get_repo("alice/project")
    repo.edit(description="Greets every visitor")
    git.run("checkout", "-q", "-b", "visit", cwd=project.work)
    git.commit(project.work, {"VISIT.md": "visit\n"}, "Welcome a visitor")
    git.run("push", project.push_url, "visit", cwd=project.work)
    repo.create_pull(title="Welcome each visitor", body="", head="visit", base="main")
    repo.create_issue(title="A visitor found no bell", body="")

    page = browser.new_page()
    errors = watch_console(page)
    sign_in(page, live_server, "alice")
    page.fill(".top-search input[name=q]", "visitor")
    page.press(".top-search input[name=q]", "Enter")
    expect(page.locator(".search-tabs a[data-kind=repositories] .count")).to_have_text("1")
    expect(page.locator(".search-tabs a[data-kind=changes] .count")).to_have_text("2")
    expect(page.locator(".search-tabs a[data-kind=code] .count")).to_have_text("1")
    expect(page.locator(".search-results mark").first).to_have_text("visitor")
    page.click(".search-tabs a[data-kind=code]")
    expect(page.locator(".search-results .search-title")).to_contain_text("src/greeter.py")
    expect(page.locator(".search-line mark").first).to_have_text("visitor")
    shot(page, "search-code")
    page.click(".search-tabs a[data-kind=changes]")
    expect(page.locator(".search-results .search-title")).to_have_count(2)
    titles = set(page.locator(".search-results .search-title").all_inner_texts())
    assert titles == {"A visitor found no bell", "Welcome each visitor"}  # best match first
    expect(page.locator(".search-issue .badge")).to_have_text("issue open")
    page.click(".search-issue .search-title")
    expect(page).to_have_url(f"{live_server}/alice/project/issues/2")
    page.go_back()
    page.click(".search-results li:not(.search-issue) .search-title")
    expect(page).to_have_url(f"{live_server}/alice/project/pull/1")
    assert errors == []


def test_the_results_page_pages_through_many_results(project, client, git, settings):
    for number in range(25):
        git.commit(project.work, {f"notes/n{number:02d}.txt": "lantern\n"}, f"Note {number}")
    git.run("push", project.push_url, "main", cwd=project.work)
    index(settings)
    first = client.get("/search?q=lantern&type=code").get_data(as_text=True)
    assert "25 results" in first and "Page 1 of 2" in first
    second = client.get("/search?q=lantern&type=code&page=2").get_data(as_text=True)
    assert second.count('class="search-hit"') == 5
    refused = client.get("/search?q=lantern+is:sideways&type=changes")
    assert refused.status_code == 422
    assert "is:sideways is not a search qualifier" in refused.get_data(as_text=True)


def test_a_private_change_is_found_by_its_author_and_writers_only(
    project, git, github, make_user, make_token, tmp_path
):
    make_user("bob")
    make_user("carol")
    bob_token = make_token("bob")
    clone = tmp_path / "bob"
    git.run("clone", "-q", authed(project.url, "bob", bob_token), str(clone))
    git.install_change_id_hook(clone)
    git.commit(clone, {"plan.txt": "x\n"}, "The surprise party plan")
    git.run("push", "-o", "private", "origin", "HEAD:refs/for/main", cwd=clone)

    query = "surprise party is:pr"
    assert [p.title for p in github(bob_token).search_issues(query)] == [
        "The surprise party plan"
    ], "its author finds it"
    assert github(project.token).search_issues(query).totalCount == 1, "the owner may write"
    assert github(make_token("carol")).search_issues(query).totalCount == 0
    assert github(None).search_issues(query).totalCount == 0


def test_a_private_organization_repository_is_found_through_the_organization_only(
    ci, make_user, make_token, github, git, tmp_path, live_server, settings
):
    for name in ("alice", "bob", "carol"):
        make_user(name)
    tokens = {name: make_token(name) for name in ("alice", "bob", "carol")}
    alice = github(tokens["alice"])
    alice.requester.requestJsonAndCheck("POST", "/admin/organizations", input={"login": "acme"})
    org = alice.get_organization("acme")
    repo = org.create_repo("engine", private=True, description="The engine")
    work = git.init(tmp_path / "engine", {"engine.py": "TURBOCHARGER = True\n"})
    git.run("push", authed(f"{live_server}/acme/engine.git", "alice", tokens["alice"]), "main",
            cwd=work)  # fmt: skip
    index(settings)

    bob = github(tokens["bob"])
    assert code_paths(bob, "turbocharger") == []
    team = org.create_team("Core", privacy="closed")
    team.add_membership(bob.get_user("bob"), "member")
    team.update_team_repository(repo, "pull")
    assert code_paths(bob, "turbocharger") == ["acme/engine:engine.py"]
    assert [r.full_name for r in bob.search_repositories("engine")] == ["acme/engine"]
    assert code_paths(github(tokens["carol"]), "turbocharger") == []


def test_a_new_default_branch_is_indexed_in_place_of_the_old(project, git, github, settings):
    git.run("checkout", "-q", "-b", "trunk", cwd=project.work)
    git.commit(project.work, {"src/greeter.py": "def salute_guest():\n    pass\n"}, "Salute")
    git.run("push", project.push_url, "trunk", cwd=project.work)
    index(settings)
    alice = github(project.token)
    assert code_paths(alice, "salute_guest") == []
    alice.get_repo("alice/project").edit(default_branch="trunk")
    index(settings)
    assert code_paths(alice, "salute_guest") == ["alice/project:src/greeter.py"]
    assert code_paths(alice, "greet_visitor") == []


def test_files_past_the_cap_are_left_out_and_the_results_say_so(
    project, database, settings, api, client
):
    from forge.models import Repository
    from forge.search.code_index import CodeLimits, forget_state, index_code

    # The cap is 20,000 files; a repository of two files shows it with a cap of one.
    with database.session() as session:
        repo = session.query(Repository).filter_by(name="project").one()
        forget_state(session, repo.id)
        path = settings.repos_dir / "alice" / "project.git"
        index_code(session, path, repo, CodeLimits(max_files=1))
    answer = api("GET", "/search/code?q=hello+repo:alice/project", project.token).json()
    assert answer["incomplete_results"] is True
    assert [item["path"] for item in answer["items"]] == ["README.md"], "the first in path order"
    page = client.get("/search?q=hello+repo:alice/project&type=code").get_data(as_text=True)
    assert "only the first 1 files are indexed; 1 more are not searched" in page
    assert (
        api("GET", "/search/code?q=hello+filename:greeter.py", project.token).json()["total_count"]
        == 0
    ), "the file past the cap is not found by name either"
