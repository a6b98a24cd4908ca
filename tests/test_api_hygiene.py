"""The API behaves like GitHub's where every client notices: pages and Link headers, ETags
and free 304s, a rate limit kept in Redis with its X-RateLimit-* headers (which PyGithub
reads), and one error shape for every failure under /api/v3.

Tests of the limit itself set it low (5 an hour with a token, 3 without) to run out quickly.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest
from github import RateLimitExceededException

from forge.app import create_app

USER_LIMIT, ANON_LIMIT = 5, 3
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Used",
    "X-RateLimit-Resource",
)


@pytest.fixture
def tight(settings, app):
    """Low limits, so they run out within a test (forge reads them on every request)."""
    settings.api_rate_limit, settings.api_anon_rate_limit = USER_LIMIT, ANON_LIMIT


def links(response) -> dict[str, str]:
    """rel -> URL of a Link header."""
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))
    return {rel: url for url, rel in found}


def page_of(url: str) -> tuple[int, int]:
    return int(re.search(r"[?&]page=(\d+)", url)[1]), int(re.search(r"per_page=(\d+)", url)[1])


# --- pagination -----------------------------------------------------------------------------


@pytest.fixture
def many_refs(git, hosted_repo, tmp_path):
    """alice/project with main and seven more branches: eight refs to page through."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    for n in range(7):
        git.run("branch", f"topic-{n}", cwd=work)
    git.run("push", repo.push_url, "--all", cwd=work)
    return repo


@pytest.mark.parametrize("path", ["/branches", "/git/refs"])
def test_lists_are_paged_with_links_to_the_other_pages(many_refs, api, path):
    token = many_refs.token
    first = api("GET", f"/repos/alice/project{path}?per_page=3", token)
    assert first.status_code == 200 and len(first.json()) == 3
    rels = links(first)
    assert set(rels) == {"next", "last"}
    assert page_of(rels["next"]) == (2, 3) and page_of(rels["last"]) == (3, 3)

    middle = api("GET", f"/repos/alice/project{path}?per_page=3&page=2", token)
    assert set(links(middle)) == {"next", "last", "first", "prev"}
    assert page_of(links(middle)["prev"]) == (1, 3)

    last = api("GET", links(middle)["last"].split("/api/v3", 1)[1], token)
    assert len(last.json()) == 2 and set(links(last)) == {"first", "prev"}
    seen = [item.get("name") or item.get("ref") for r in (first, middle, last) for item in r.json()]
    assert len(seen) == len(set(seen)) == 8, "every ref once across the pages"

    everything = api("GET", f"/repos/alice/project{path}?per_page=1000", token)
    assert len(everything.json()) == 8 and "Link" not in everything.headers  # 100 at most

    refused = api("GET", f"/repos/alice/project{path}?per_page=lots", token)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "resource": "Reference",
            "field": "per_page",
            "code": "invalid",
            "message": "per_page must be a whole number",
        }
    ]


def test_pygithub_pages_through_a_list(many_refs, github):
    repo = github(many_refs.token, per_page=3).get_repo("alice/project")
    names = [branch.name for branch in repo.get_branches()]
    assert names.count("main") == 1 and len(names) == 8


# --- ETag and 304 ---------------------------------------------------------------------------


def test_an_unchanged_answer_is_304_and_costs_nothing(hosted_repo, api):
    repo = hosted_repo()
    first = api("GET", "/repos/alice/project", repo.token)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    remaining = int(first.headers["X-RateLimit-Remaining"])

    again = api("GET", "/repos/alice/project", repo.token, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining, "a 304 is free"
    # The next counted request shows the 304 was not charged.
    assert int(api("GET", "/user", repo.token).headers["X-RateLimit-Remaining"]) == remaining - 1

    changed = api("PATCH", "/repos/alice/project", repo.token, json={"description": "New"})
    assert changed.status_code == 200 and "ETag" not in changed.headers  # GETs only
    fresh = api("GET", "/repos/alice/project", repo.token, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["description"] == "New"
    assert fresh.headers["ETag"] != etag


# --- the rate limit -------------------------------------------------------------------------


def test_every_answer_carries_the_rate_limit_headers(api, make_user, make_token, tight):
    make_user("alice")
    token = make_token("alice")
    started = int(time.time())
    answers = [
        api("GET", "/user", token),  # 200
        api("GET", "/repos/alice/nothing", token),  # 404 from a view
        api("GET", "/no/such/endpoint", token),  # 404 no view matches
        api("DELETE", "/user", token),  # 405
    ]
    for number, answer in enumerate(answers, start=1):
        assert all(h in answer.headers for h in RATE_HEADERS), answer.headers
        assert answer.headers["X-RateLimit-Limit"] == str(USER_LIMIT)
        assert answer.headers["X-RateLimit-Used"] == str(number)
        assert answer.headers["X-RateLimit-Remaining"] == str(USER_LIMIT - number)
        assert answer.headers["X-RateLimit-Resource"] == "core"
        assert started <= int(answer.headers["X-RateLimit-Reset"]) <= started + 3601


def test_exhausted_limits_answer_403_like_github(api, make_user, make_token, tight):
    make_user("alice")
    token = make_token("alice")
    for _ in range(ANON_LIMIT):
        assert api("GET", "/users/alice").status_code == 200
    refused = api("GET", "/users/alice")
    assert refused.status_code == 403
    assert refused.json()["message"] == "API rate limit exceeded for 127.0.0.1."
    assert refused.json()["documentation_url"]
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Used"] == str(ANON_LIMIT)
    # Bad credentials count against the address too, so guessing tokens is limited as well.
    assert api("GET", "/user", "forge_guessed").status_code == 403

    # A token has its own, larger limit: the address being spent does not matter.
    for used in range(1, USER_LIMIT + 1):
        answer = api("GET", "/user", token)
        assert answer.status_code == 200
        assert answer.headers["X-RateLimit-Remaining"] == str(USER_LIMIT - used)
    over = api("GET", "/user", token)
    assert over.status_code == 403
    assert over.json()["message"].startswith("API rate limit exceeded for user ID ")
    # Asking where one stands costs nothing, even when nothing is left.
    status = api("GET", "/rate_limit", token)
    assert status.status_code == 200
    core = status.json()["resources"]["core"]
    assert (core["limit"], core["used"], core["remaining"]) == (USER_LIMIT, USER_LIMIT, 0)
    assert status.json()["rate"] == core
    assert int(over.headers["X-RateLimit-Reset"]) == core["reset"]


def test_the_count_lives_in_redis_and_holds_across_web_processes(
    settings, make_user, make_token, app, tight
):
    """Two app instances (as two gunicorn workers) on one Redis share one count."""
    make_user("alice")
    token = make_token("alice")
    headers = {"Authorization": f"token {token}"}
    one, two = app.test_client(), create_app(settings).test_client()
    assert one.get("/api/v3/user", headers=headers).headers["X-RateLimit-Used"] == "1"
    assert two.get("/api/v3/user", headers=headers).headers["X-RateLimit-Used"] == "2"
    assert one.get("/api/v3/user", headers=headers).headers["X-RateLimit-Used"] == "3"


def test_pygithub_reads_the_limit_and_stops_when_it_runs_out(github, make_user, make_token, tight):
    make_user("alice")
    gh = github(make_token("alice"))
    assert gh.get_user().login == "alice"
    assert gh.rate_limiting == (USER_LIMIT - 1, USER_LIMIT)
    assert abs(gh.rate_limiting_resettime - (time.time() + 3600)) < 120
    overview = gh.get_rate_limit()  # free, as on GitHub
    assert (overview.resources.core.limit, overview.resources.core.remaining) == (
        USER_LIMIT,
        USER_LIMIT - 1,
    )
    for _ in range(USER_LIMIT - 1):
        gh.get_user("alice").login  # noqa: B018 - each profile fetch is one request
    with pytest.raises(RateLimitExceededException):
        gh.get_user("alice").name  # noqa: B018
    assert gh.rate_limiting[0] == 0


# --- one error shape ------------------------------------------------------------------------


def test_errors_have_one_shape_everywhere_under_the_api(api, make_user, make_token):
    make_user("alice")
    token = make_token("alice")
    unknown = api("GET", "/no/such/thing", token)
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Not Found", "documentation_url": unknown.json()[
        "documentation_url"]}  # fmt: skip
    wrong_method = api("DELETE", "/user", token)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"] == "Method Not Allowed"
    assert "PATCH" in wrong_method.headers["Allow"]
    bad_json = api("POST", "/user/repos", token, data="{not json")
    assert (bad_json.status_code, bad_json.json()["message"]) == (400, "Problems parsing JSON")
    invalid = api("POST", "/user/repos", token, json={"name": ""})
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {
            "resource": "Repository",
            "field": "name",
            "code": "invalid",
            "message": "name is required",
        }
    ]
    nul = api("POST", "/user/repos", token, json={"name": "a\x00b"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "name"
    huge = api("GET", f"/repos/alice/x/pulls/{2**70}", token)
    assert huge.status_code == 404 and huge.json()["message"] == "Not Found"
    for answer in (unknown, wrong_method, bad_json, invalid, nul, huge):
        assert answer.headers["Content-Type"] == "application/json"
        assert set(answer.json()) >= {"message", "documentation_url"}


def test_a_server_error_answers_json_and_keeps_the_headers(app, hosted_repo, api, settings):
    # The repository's files vanish from disk under forge (a lost volume): a real failure
    # that forge cannot answer sensibly, so it must at least answer in the API's shape.
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise to pytest
    repo = hosted_repo()
    shutil.rmtree(settings.repos_dir / "alice" / "project.git")
    broken = api("GET", "/repos/alice/project/branches", repo.token)
    assert broken.status_code == 500
    assert broken.json()["message"] == "Server Error"
    assert "documentation_url" in broken.json()
    assert "X-RateLimit-Remaining" in broken.headers
