"""Bounds on what a request may hold, and names no ref may take (issue 17, items 3 and 7).

Bodies: every route but git's refuses a body over FORGE_MAX_API_BODY_KB with 413 before
reading it (a Content-Length over the limit is answered at once; a chunked body is cut off at
the limit), in GitHub's error shape under /api/v3 and as a page elsewhere; git pushes keep
their own, larger limit. JSON nested too deep is bad JSON (400), never a server error.

Ref names: `git check-ref-format` plus GitHub's refusals (a branch or tag named HEAD or
starting with '-') on every path that creates a ref: the API, a push and the web forms.
Each refusal changes nothing, and a ref of such a name made before can still be deleted.
"""

from __future__ import annotations

import base64
import html
import json
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from conftest import PASSWORD, csrf_from
from dulwich.repo import Repo
from github import GithubException
from sqlalchemy import select

from forge.config import Settings
from forge.models import Repository

LIMIT = 1024 * 1024  # the default FORGE_MAX_API_BODY_KB, in bytes


def repositories(database) -> list[str]:
    with database.session() as session:
        return [r.name for r in session.scalars(select(Repository))]


def raw_request(live_server: str, head: str, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send a request by hand on loopback; the answer up to the server's closing (or timeout)."""
    address = urlsplit(live_server)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
        return answer


def answer_body(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


@pytest.fixture
def alice(make_user, make_token):
    make_user("alice")
    return make_token("alice")


# --- bodies ---------------------------------------------------------------------------------


def test_the_limit_is_a_setting_in_kib():
    assert Settings.from_env({}).max_api_body_bytes == LIMIT
    settings = Settings.from_env({"FORGE_MAX_API_BODY_KB": "4"})
    assert settings.max_api_body_bytes == 4096
    assert settings.environment()["FORGE_MAX_API_BODY_KB"] == "4"


def test_a_json_body_over_the_limit_is_413_in_githubs_shape(api, alice, database):
    body = json.dumps({"name": "big", "description": "x" * (2 * LIMIT)})
    response = api("POST", "/user/repos", alice, data=body)
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is larger than the limit of 1024 KiB.",
        "documentation_url": "https://docs.github.com/rest",
    }
    assert repositories(database) == []
    # Just under the limit is read as usual (and refused for what it says, not its size).
    under = json.dumps({"name": "small", "description": "x" * (LIMIT - 100)})
    assert api("POST", "/user/repos", alice, data=under).status_code == 422
    assert repositories(database) == []


def test_a_claimed_length_over_the_limit_is_refused_before_the_body_arrives(
    live_server, alice, database
):
    started = time.monotonic()
    answer = raw_request(
        live_server,
        "POST /api/v3/user/repos HTTP/1.1\n"
        f"Host: 127.0.0.1\nAuthorization: token {alice}\nContent-Type: application/json\n"
        f"Content-Length: {200 * 1024 * 1024}\n",
        b'{"name": "claimed", "description": "',
    )
    assert time.monotonic() - started < 5  # not waiting for 200 MB that never come
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer_body(answer))["message"].startswith("The request body is larger")
    assert repositories(database) == []


def test_a_chunked_body_is_cut_off_at_the_limit(live_server, app, alice, database):
    app.extensions["forge.settings"].max_api_body_bytes = 10_000

    def post_chunked(fields: dict) -> bytes:
        payload = json.dumps(fields).encode()
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(payload[i : i + 4096]), payload[i : i + 4096])
            for i in range(0, len(payload), 4096)
        )
        return raw_request(
            live_server,
            "POST /api/v3/user/repos HTTP/1.1\n"
            f"Host: 127.0.0.1\nAuthorization: token {alice}\nContent-Type: application/json\n"
            "Transfer-Encoding: chunked\n",
            chunks + b"0\r\n\r\n",
        )

    answer = post_chunked({"name": "chunked", "description": "x" * 20_000})
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert json.loads(answer_body(answer)) == {
        "message": "The request body is larger than the limit of 10000 bytes.",
        "documentation_url": "https://docs.github.com/rest",
    }
    assert repositories(database) == []
    # Under the limit, a chunked body is read whole.
    answer = post_chunked({"name": "chunked", "description": "x" * 300})
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert json.loads(answer_body(answer))["description"] == "x" * 300


@pytest.mark.parametrize("depth", [100, 100_000])
def test_json_nested_too_deep_is_400_problems_parsing_json(api, alice, database, depth):
    nested = '{"name": "deep", "description": ' + "[" * depth + "]" * depth + "}"
    response = api("POST", "/user/repos", alice, data=nested)
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"
    assert repositories(database) == []


def test_json_nested_up_to_the_depth_limit_is_read(api, alice, database):
    # 64 levels in all: the body's object and 63 arrays inside it.
    nested = '{"name": "ok", "description": ' + "[" * 63 + "]" * 63 + "}"
    response = api("POST", "/user/repos", alice, data=nested)
    assert response.status_code == 422  # a list is no description: read, then refused
    assert response.json()["errors"][0]["field"] == "description"


def test_a_web_form_over_the_limit_is_a_413_page(live_server, make_user, database):
    make_user("alice")
    browser = requests.Session()
    token = csrf_from(browser.get(f"{live_server}/login", timeout=30).text)
    signed_in = browser.post(
        f"{live_server}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302
    token = csrf_from(browser.get(f"{live_server}/new", timeout=30).text)
    response = browser.post(
        f"{live_server}/new",
        data={
            "csrf_token": token,
            "name": "big",
            "visibility": "public",
            "description": "x" * (2 * LIMIT),
        },  # fmt: skip
        timeout=30,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Too large" in response.text
    assert "The request body is larger than the limit of 1024 KiB." in response.text
    assert repositories(database) == []


def test_an_anonymous_form_with_a_huge_claimed_length_is_refused_at_once(live_server):
    started = time.monotonic()
    answer = raw_request(
        live_server,
        "POST /login HTTP/1.1\nHost: 127.0.0.1\n"
        "Content-Type: application/x-www-form-urlencoded\n"
        f"Content-Length: {200 * 1024 * 1024}\n",
        b"username=alice&password=",
    )
    assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Too large" in answer


def test_a_git_push_over_the_api_limit_still_works(git, hosted_repo, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    # Random bytes as text: about 2 MB that zlib cannot shrink below the 1 MB limit.
    git.commit(work, {"big.txt": base64.b64encode(os.urandom(1_500_000)).decode()}, "big")
    # One body with a Content-Length (a large post buffer), then a chunked one (git's default).
    pushed = git.run("-c", "http.postBuffer=16m", "push", repo.push_url, "main", cwd=work)
    assert "[new branch]      main -> main" in pushed.stderr
    git.commit(work, {"big2.txt": base64.b64encode(os.urandom(1_500_000)).decode()}, "big 2")
    git.run("push", repo.push_url, "main", cwd=work)
    listing = git.run("ls-remote", repo.url, "refs/heads/main").stdout
    assert listing.split()[0] == git.head(work)


# --- ref names ------------------------------------------------------------------------------

REFUSED = [
    ("refs/heads/HEAD", "a branch or tag may not be named HEAD"),
    ("refs/heads/-x", "a branch or tag name may not start with '-'"),
    ("refs/tags/-v1", "a branch or tag name may not start with '-'"),
    ("refs/tags/HEAD", "a branch or tag may not be named HEAD"),
]


@pytest.fixture
def pushed(git, hosted_repo, tmp_path, settings):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    path = settings.repos_dir / "alice" / "project.git"

    def refs() -> dict[bytes, bytes]:
        with Repo(str(path)) as server:
            return server.refs.as_dict()

    return repo, work, path, refs


def test_the_api_refuses_refs_git_would_take_but_github_does_not(pushed, github, git):
    repo, work, _path, refs = pushed
    before = refs()
    remote = github(repo.token).get_repo("alice/project")
    for ref, problem in REFUSED:
        with pytest.raises(GithubException) as refused:
            remote.create_git_ref(ref, git.head(work))
        assert refused.value.status == 422, ref
        assert refused.value.data["message"] == f"invalid ref name {ref!r}: {problem}"
        [error] = refused.value.data["errors"]
        assert (error["resource"], error["field"]) == ("Reference", "ref")
        assert refs() == before, ref
    # A well-formed name still works.
    remote.create_git_ref("refs/heads/x-", git.head(work))
    assert b"refs/heads/x-" in refs()


def test_a_push_of_such_names_is_rejected_in_gits_own_form(pushed, git):
    repo, work, _path, refs = pushed
    before = refs()
    for ref, problem in REFUSED:
        refused = git.run("push", repo.push_url, f"HEAD:{ref}", cwd=work, check=False)
        assert refused.returncode != 0, ref
        short = ref.split("/", 2)[2]
        assert f"! [remote rejected] HEAD -> {short} (invalid ref name)" in refused.stderr
        assert f"remote: error: invalid ref name {ref!r}: {problem}" in refused.stderr
        assert refs() == before, ref


def test_such_a_ref_made_before_can_still_be_moved_and_deleted(pushed, git):
    repo, work, path, refs = pushed
    first = git.head(work)
    with Repo(str(path)) as server:
        server.refs[b"refs/heads/HEAD"] = first.encode()  # as an older forge let it be pushed
    second = git.commit(work, {"a.txt": "a\n"}, "second")
    git.run("push", repo.push_url, "HEAD:refs/heads/HEAD", cwd=work)
    assert refs()[b"refs/heads/HEAD"] == second.encode()
    git.run("push", repo.push_url, ":refs/heads/HEAD", cwd=work)
    assert b"refs/heads/HEAD" not in refs()


@pytest.mark.parametrize("branch", ["HEAD", "-x"])
def test_the_web_refuses_such_a_default_branch_with_a_400_page(
    app, make_user, login, settings, database, branch
):
    make_user("alice")
    browser = login("alice", test_client=app.test_client())
    token = csrf_from(browser.get("/new").get_data(as_text=True))
    fields = {"name": "proj", "visibility": "public", "default_branch": branch}
    response = browser.post("/new", data={"csrf_token": token, **fields})
    assert response.status_code == 400
    assert f"invalid branch name {branch!r}" in html.unescape(response.get_data(as_text=True))
    assert repositories(database) == []
    assert not (settings.repos_dir / "alice" / "proj.git").exists()

    fields["default_branch"] = "main"
    token = csrf_from(browser.get("/new").get_data(as_text=True))
    assert browser.post("/new", data={"csrf_token": token, **fields}).status_code == 302
    page = "/alice/proj/settings"
    token = csrf_from(browser.get(page).get_data(as_text=True))
    settings_fields = {"name": "proj", "description": "", "default_branch": branch}
    response = browser.post(page, data={"csrf_token": token, **settings_fields})
    assert response.status_code == 400
    assert f"invalid branch name {branch!r}" in html.unescape(response.get_data(as_text=True))
    with database.session() as session:
        assert session.scalar(select(Repository.default_branch)) == "main"
