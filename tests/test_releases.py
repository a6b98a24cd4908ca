"""Releases through GitHub's API as PyGithub calls it: a release made on a pushed branch gets
its tag, an asset uploaded to the `upload_url` comes back byte for byte, the latest release is
the newest that is not a prerelease, drafts are their writers', and deleting takes the files
with it. Private repositories' releases do not exist for outsiders; uploads are bounded by
FORGE_MAX_ASSET_MB; stars and forks are listed as GitHub lists them. Every answer is checked
against GitHub's own schema."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from dataclasses import replace

import pytest
import requests
from github import GithubException
from support.github_schema import assert_github_response

RELEASES = "/repos/{owner}/{repo}/releases"
ONE = RELEASES + "/{release_id}"
ASSET = RELEASES + "/assets/{asset_id}"


@pytest.fixture
def settings(settings):
    return replace(settings, max_asset_bytes=2 * 1024 * 1024)


@pytest.fixture
def project(hosted_repo, git, tmp_path):
    """alice/project with main pushed (README and a source file)."""
    info = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n", "src/app.py": "print(1)\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    info.work = work
    return info


def asset_files(settings) -> list[str]:
    root = settings.releases_dir
    return (
        sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
        if root.exists()
        else []
    )


def test_a_release_with_an_uploaded_asset_round_trips_through_pygithub(
    project, github, api, git, settings, tmp_path
):
    repo = github(project.token).get_repo("alice/project")
    release = repo.create_git_release("v1.0", "First release", "What is **new**: everything.")
    assert (release.tag_name, release.name, release.draft) == ("v1.0", "First release", False)
    # Publishing made the tag, at the default branch's tip.
    tags = git.run("ls-remote", "--tags", project.url).stdout
    assert f"{git.head(project.work)}\trefs/tags/v1.0" in tags

    payload = os.urandom(300_000) + b"\x00end"
    upload = tmp_path / "forge-1.0 linux.tar.gz"
    upload.write_bytes(payload)
    asset = release.upload_asset(str(upload), label="Linux build", content_type="application/gzip")
    # Named as GitHub renames uploads: the space became a dot.
    assert (asset.name, asset.label, asset.size) == (
        "forge-1.0.linux.tar.gz",
        "Linux build",
        len(payload),
    )
    assert asset.content_type == "application/gzip"

    downloaded = tmp_path / "downloaded"
    repo.get_release_asset(asset.id).download_asset(str(downloaded))
    assert downloaded.read_bytes() == payload
    # The page's download link gives the same bytes, and both downloads count.
    page = requests.get(asset.browser_download_url, timeout=30)
    assert page.status_code == 200 and page.content == payload
    assert repo.get_release_asset(asset.id).download_count == 2

    # A prerelease is never the latest; a later full release is.
    repo.create_git_release("v2.0-rc1", "Release candidate", "", prerelease=True)
    assert repo.get_latest_release().tag_name == "v1.0"
    second = repo.create_git_release("v1.1", "Fixes", "Bugs fixed.", target_commitish="main")
    assert repo.get_latest_release().id == second.id
    assert repo.get_release("v1.0").id == release.id
    assert repo.get_release(release.id).get_assets()[0].id == asset.id
    assert [r.tag_name for r in repo.get_releases()] == ["v1.1", "v2.0-rc1", "v1.0"]

    # GitHub's shapes, field for field.
    path = "/repos/alice/project/releases"
    listed = api("GET", path, project.token)
    assert_github_response("GET", RELEASES, 200, listed.json())
    one = api(
        "GET",
        f"{path}/{release.id}",
        project.token,
        headers={"Accept": "application/vnd.github.full+json"},
    )
    assert_github_response("GET", ONE, 200, one.json())
    assert "<strong>new</strong>" in one.json()["body_html"]
    assert_github_response(
        "GET", ASSET, 200, api("GET", f"{path}/assets/{asset.id}", project.token).json()
    )
    assert_github_response(
        "GET", RELEASES + "/latest", 200, api("GET", f"{path}/latest", project.token).json()
    )

    # The source archives the release names hold its tag's tree.
    zipped = requests.get(one.json()["zipball_url"], timeout=30)
    assert zipped.status_code == 200
    assert "project-v1.0/src/app.py" in zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    tarred = requests.get(one.json()["tarball_url"], timeout=30)
    with tarfile.open(fileobj=io.BytesIO(tarred.content)) as archive:
        assert "project-v1.0/README.md" in archive.getnames()

    # Editing renames; deleting an asset, then the release, removes their files.
    release.update_release("First release, renamed", "Notes, edited.")
    assert repo.get_release(release.id).name == "First release, renamed"
    assert asset_files(settings)
    asset.delete_asset()
    assert asset_files(settings) == []
    again = repo.get_release(second.id).upload_asset(str(upload), name="again.bin")
    assert asset_files(settings) == [f"{repo.id}/{again.id}"]
    repo.get_release(second.id).delete_release()
    assert asset_files(settings) == []
    with pytest.raises(GithubException) as missing:
        repo.get_release(second.id)
    assert missing.value.status == 404
    # The tag stays, as on GitHub.
    assert "refs/tags/v1.1" in git.run("ls-remote", "--tags", project.url).stdout


def test_drafts_are_for_writers_and_a_bad_release_changes_nothing(
    project, github, api, make_user, make_token
):
    repo = github(project.token).get_repo("alice/project")
    draft = repo.create_git_release("v0.9", "Not yet", "draft notes", draft=True)
    assert draft.draft and draft.published_at is None
    make_user("bob")
    bob = make_token("bob")
    # A reader of the public repository sees no draft, by list or by id.
    assert api("GET", "/repos/alice/project/releases", bob).json() == []
    assert api("GET", f"/repos/alice/project/releases/{draft.id}", bob).status_code == 404
    # Nor may they make one.
    refused = api("POST", "/repos/alice/project/releases", bob, json={"tag_name": "v9"})
    assert refused.status_code == 403

    # Publishing the draft creates its tag; its notes are kept.
    draft.update_release("Now", "draft notes", draft=False)
    assert api("GET", f"/repos/alice/project/releases/{draft.id}", bob).json()["tag_name"] == "v0.9"

    for body, field in (
        ({"tag_name": "bad..name"}, "tag_name"),
        ({"tag_name": "v0.9"}, "tag_name"),  # taken
        ({"tag_name": "v3", "target_commitish": "no-such-branch"}, "target_commitish"),
    ):
        answer = api("POST", "/repos/alice/project/releases", project.token, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert [
        r["tag_name"] for r in api("GET", "/repos/alice/project/releases", project.token).json()
    ] == ["v0.9"]


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(
    project, github, api, settings, tmp_path
):
    repo = github(project.token).get_repo("alice/project")
    release = repo.create_git_release("v1.0", "One", "")
    upload_url = release.upload_url.split("{")[0]
    too_big = b"x" * (settings.max_asset_bytes + 1)
    headers = {"Authorization": f"token {project.token}", "Content-Type": "application/zip"}
    answer = requests.post(
        upload_url, params={"name": "big.zip"}, data=too_big, headers=headers, timeout=60
    )
    assert answer.status_code == 413
    # Sent in chunks, without a length up front, it is cut off just the same.
    parts = iter([too_big[:1_000_000], too_big[1_000_000:]])
    chunked = requests.post(
        upload_url, params={"name": "big.zip"}, data=parts, headers=headers, timeout=60
    )
    assert chunked.status_code in (413, 422), chunked.text
    assert asset_files(settings) == []
    assert repo.get_release(release.id).get_assets().totalCount == 0
    # Without a name it says what is missing.
    nameless = requests.post(upload_url, data=b"abc", headers=headers, timeout=30)
    assert nameless.status_code == 422 and "name" in nameless.json()["message"]
    # Without a token, nothing.
    anonymous = requests.post(upload_url, params={"name": "a.txt"}, data=b"abc", timeout=30)
    assert anonymous.status_code == 401
    assert asset_files(settings) == []


def test_a_private_repositorys_releases_do_not_exist_for_outsiders(
    hosted_repo, git, tmp_path, github, api, make_user, make_token
):
    info = hosted_repo(private=True)
    work = git.init(tmp_path / "work", {"README.md": "# secret\n"})
    git.run("push", "-q", info.push_url, "HEAD:main", cwd=work)
    repo = github(info.token).get_repo("alice/project")
    release = repo.create_git_release("v1.0", "Secret", "hidden")
    asset = release.upload_asset_from_memory(io.BytesIO(b"secret bytes"), 12, "s.txt")
    make_user("mallory")
    outsider = make_token("mallory")
    base = "/repos/alice/project"
    for token in (outsider, None):
        for path in (
            "/releases", f"/releases/{release.id}", "/releases/latest", "/releases/tags/v1.0",
            f"/releases/{release.id}/assets", f"/releases/assets/{asset.id}", "/zipball/v1.0",
            "/tarball/v1.0", "/stargazers", "/forks",
        ):  # fmt: skip
            assert api("GET", base + path, token).status_code == 404, (path, token)
        download = api(
            "GET", f"{base}/releases/assets/{asset.id}", token,
            headers={"Accept": "application/octet-stream"},
        )  # fmt: skip
        assert download.status_code == 404
        web = requests.get(asset.browser_download_url, timeout=30)
        assert web.status_code == 404 and b"secret bytes" not in web.content
        headers = {"Authorization": f"token {token}"} if token else {}
        upload = requests.post(
            release.upload_url.split("{")[0], params={"name": "x.txt"}, data=b"x",
            headers=headers, timeout=30,
        )  # fmt: skip
        assert upload.status_code in (401, 404)
    assert api("PUT", "/user/starred/alice/project", outsider).status_code == 404
    # Nor do its pages.
    site = info.url.removesuffix("/alice/project.git")
    for page in ("/releases", "/releases/tag/v1.0", f"/releases/{release.id}", "/stargazers",
                 "/forks", "/releases/download/v1.0/s.txt"):  # fmt: skip
        assert requests.get(f"{site}/alice/project{page}", timeout=30).status_code == 404, page


def test_stars_and_forks_are_listed_as_github_lists_them(
    project, github, api, make_user, make_token
):
    make_user("bob")
    make_user("carol")
    bob, carol = make_token("bob"), make_token("carol")
    for token in (bob, carol, bob):  # starring twice is one star
        assert api("PUT", "/user/starred/alice/project", token).status_code == 204
    assert api("GET", "/user/starred/alice/project", bob).status_code == 204
    assert api("GET", "/user/starred/alice/project", project.token).status_code == 404
    gazers = api("GET", "/repos/alice/project/stargazers", None)
    assert [u["login"] for u in gazers.json()] == ["bob", "carol"]
    assert_github_response("GET", "/repos/{owner}/{repo}/stargazers", 200, gazers.json())
    dated = api("GET", "/repos/alice/project/stargazers", None,
                headers={"Accept": "application/vnd.github.star+json"})  # fmt: skip
    assert all(item["starred_at"] for item in dated.json())
    assert github(bob).get_repo("alice/project").stargazers_count == 2
    assert [r.full_name for r in github(bob).get_user().get_starred()] == ["alice/project"]
    assert [r["full_name"] for r in api("GET", "/users/carol/starred").json()] == ["alice/project"]
    assert api("DELETE", "/user/starred/alice/project", carol).status_code == 204
    assert [u["login"] for u in api("GET", "/repos/alice/project/stargazers").json()] == ["bob"]

    github(bob).get_repo("alice/project").create_fork()
    forks = api("GET", "/repos/alice/project/forks")
    assert [f["full_name"] for f in forks.json()] == ["bob/project"]
    assert github(bob).get_repo("alice/project").forks_count == 1


def test_deleting_the_repository_removes_its_release_files(project, github, api, settings):
    repo = github(project.token).get_repo("alice/project")
    release = repo.create_git_release("v1.0", "One", "")
    release.upload_asset_from_memory(io.BytesIO(b"kept until the repository goes"), 30, "a.bin")
    assert asset_files(settings)
    assert api("DELETE", "/repos/alice/project", project.token).status_code == 204
    assert asset_files(settings) == []
    assert not (settings.releases_dir / str(repo.id)).exists()
