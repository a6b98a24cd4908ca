"""The code browser: files, history, commits, refs, blame, raw files and archives, with real
pushes over HTTP and the pages read through the Flask test client as a browser would get them."""

from __future__ import annotations

import html
import io
import re
import subprocess
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from forge.repos.highlight import stylesheet

ROOT = Path(__file__).resolve().parent.parent

README = """# Project title

Some *intro* with a [guide](docs/guide.md) and a picture: ![logo](img/logo.png)

| name | value |
|:-----|------:|
| one  | 1     |

- [ ] todo item
- [x] done item

```python
def greet(name):
    return f"hello {name}"
```
"""

APP = """import os


def main(argv):
    \"\"\"Run the app.\"\"\"
    count = len(argv)
    return count
"""

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def text(response) -> str:
    return response.get_data(as_text=True)


def write(work: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def commit(git, work: Path, files: dict[str, str | bytes], message: str, author=None) -> str:
    write(work, files)
    git.run("add", "-A", cwd=work)
    args = ["commit", "-q", "-m", message]
    if author:
        args.append(f"--author={author}")
    git.run(*args, cwd=work)
    return git.head(work)


@pytest.fixture
def project(git, hosted_repo, tmp_path):
    """alice/project with a README, code, docs, an image and a little history, pushed."""
    repo = hosted_repo()
    work = tmp_path / "work"
    git.run("init", "-q", str(work))
    first = commit(
        git,
        work,
        {"README.md": README, "src/app.py": APP, "docs/guide.md": "# Guide\n", "img/logo.png": PNG},
        "Initial import",
    )
    second = commit(git, work, {"src/app.py": APP + "\n\nVERSION = 2\n"}, "Add a version")
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    repo.work, repo.first, repo.second = work, first, second
    return repo


def push(git, repo, *refs):
    git.run("push", "-q", "--force", repo.push_url, *refs, cwd=repo.work)


# --- the repository's home -------------------------------------------------------------------


def test_home_lists_files_with_last_commits_and_renders_the_readme(client, project):
    page = text(client.get("/alice/project"))
    # The files of the default branch, folders first, each with the commit that last changed it.
    names = re.findall(r'class="file-name">\s*<a href="([^"]+)">([^<]+)</a>', page)
    assert names == [
        ("/alice/project/tree/main/docs", "docs"),
        ("/alice/project/tree/main/img", "img"),
        ("/alice/project/tree/main/src", "src"),
        ("/alice/project/blob/main/README.md", "README.md"),
    ]
    rows = dict(
        re.findall(
            r">(docs|src|README.md)</a>.*?class=\"file-commit\"><a [^>]+>([^<]+)<", page, re.S
        )
    )
    assert rows == {"docs": "Initial import", "src": "Add a version", "README.md": "Initial import"}
    # The clone URL with its copy button, the branch picker, the latest commit.
    assert 'value="http://localhost/alice/project.git"' in page and 'data-copy="#clone-url"' in page
    assert 'class="ref-name">main<' in page
    assert f'href="/alice/project/commit/{project.second}"' in page
    # The README, rendered: heading anchor, table, task list, highlighted code, links resolved.
    readme = page.split('class="markdown-body">', 1)[1]
    assert '<h1 id="user-content-project-title">Project title' in readme
    assert '<th align="left">name</th>' in readme and '<td align="right">1</td>' in readme
    assert '<input type="checkbox" disabled> todo item' in readme
    assert '<input type="checkbox" disabled checked> done item' in readme
    assert '<span class="k">def</span>' in readme
    assert 'href="/alice/project/blob/main/docs/guide.md"' in readme
    assert 'src="/alice/project/raw/main/img/logo.png"' in readme
    # Every page carries the Content-Security-Policy: no inline script or style anywhere.
    response = client.get("/alice/project")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "style=" not in page and "<script>" not in page


def test_an_empty_repository_keeps_the_push_instructions(client, hosted_repo):
    hosted_repo()
    page = text(client.get("/alice/project"))
    assert "This repository is empty" in page
    assert "git push -u origin main" in page
    assert client.get("/alice/project/tree/main").status_code == 404
    assert client.get("/alice/project/commits").status_code == 404


# --- folders and files -----------------------------------------------------------------------


def test_tree_and_blob_pages(client, project):
    tree = text(client.get("/alice/project/tree/main/src"))
    assert 'href="/alice/project/blob/main/src/app.py">app.py</a>' in tree
    assert 'href="/alice/project/tree/main" class="crumb-root">project</a>' in tree
    assert "Add a version" in tree

    response = client.get("/alice/project/blob/main/src/app.py")
    assert response.status_code == 200
    blob = text(response)
    # Highlighted with CSS classes from the static sheet, each line an anchor.
    assert '<span class="kn">import</span>' in blob
    assert '<span class="k">def</span><span class="w"> </span><span class="nf">main</span>' in blob
    assert '<tr id="L1"><td class="ln"><a href="#L1">1</a></td>' in blob
    assert 'id="L10"' in blob and 'id="L11"' not in blob  # ten lines, no more
    assert "10 lines" in blob
    assert 'href="/alice/project/raw/main/src/app.py"' in blob
    assert 'href="/alice/project/blame/main/src/app.py"' in blob
    assert 'href="/alice/project/commits/main/src/app.py"' in blob
    assert "/static/pygments.css" in blob

    # An image is shown, through the raw URL.
    image = text(client.get("/alice/project/blob/main/img/logo.png"))
    assert '<img src="/alice/project/raw/main/img/logo.png" alt="logo.png">' in image

    # A Markdown file is shown rendered, and as code on request.
    guide = text(client.get("/alice/project/blob/main/docs/guide.md"))
    assert '<h1 id="user-content-guide">Guide' in guide
    assert 'id="L1"' in text(client.get("/alice/project/blob/main/docs/guide.md?plain=1"))

    # A folder asked for as a file, or a file as a folder, goes to the right page.
    assert (
        client.get("/alice/project/blob/main/src")
        .headers["Location"]
        .endswith("/alice/project/tree/main/src")
    )
    assert (
        client.get("/alice/project/tree/main/src/app.py")
        .headers["Location"]
        .endswith("/alice/project/blob/main/src/app.py")
    )


def test_unknown_refs_and_paths_are_404_pages(client, project):
    for url in (
        "/alice/project/tree/nope",
        "/alice/project/tree/main/nope",
        "/alice/project/blob/main/src/nope.py",
        "/alice/project/blob/main/src/app.py/deeper",
        "/alice/project/raw/main/src",
        "/alice/project/commits/nope",
        "/alice/project/commits/main/no/such/path",
        "/alice/project/commit/" + "0" * 40,
        "/alice/project/commit/zzzz",
        "/alice/project/blame/main/nope",
        "/alice/project/archive/nope.zip",
        "/alice/project/archive/main.rar",
        "/alice/project/compare/main...nope",
        "/alice/nothing/tree/main",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "There is nothing here" in text(response), url


def test_refs_with_slashes_tags_and_commit_ids(client, git, project):
    work = project.work
    git.run("checkout", "-q", "-b", "feature/x", cwd=work)
    on_feature = commit(git, work, {"feature/x/notes.txt": "on the branch\n"}, "Feature notes")
    git.run("tag", "-a", "v1.0", "-m", "First release", project.second, cwd=work)
    git.run("tag", "light", project.first, cwd=work)
    push(git, project, "feature/x", "v1.0", "light")

    # The longest prefix that names a ref wins, so the path may repeat the branch's name.
    page = text(client.get("/alice/project/tree/feature/x/feature/x"))
    assert 'href="/alice/project/blob/feature/x/feature/x/notes.txt">notes.txt</a>' in page
    assert 'class="ref-name">feature/x<' in page
    raw = client.get("/alice/project/raw/feature/x/feature/x/notes.txt")
    assert raw.get_data() == b"on the branch\n"
    assert client.get("/alice/project/raw/main/feature/x/notes.txt").status_code == 404

    # Tags, annotated or not, and commit ids, full or abbreviated.
    assert "VERSION = 2" in text(client.get("/alice/project/raw/v1.0/src/app.py"))
    assert "VERSION" not in text(client.get("/alice/project/raw/light/src/app.py"))
    assert "VERSION" not in text(client.get(f"/alice/project/raw/{project.first}/src/app.py"))
    short = text(client.get(f"/alice/project/blob/{project.second[:10]}/src/app.py"))
    assert "VERSION" in short
    assert client.get(f"/alice/project/tree/{on_feature}/feature/x").status_code == 200

    branches = text(client.get("/alice/project/branches"))
    assert 'href="/alice/project/tree/feature/x"' in branches and "Feature notes" in branches
    assert ">default</span>" in branches
    tags = text(client.get("/alice/project/tags"))
    assert "v1.0" in tags and "First release" in tags and "light" in tags
    assert 'href="/alice/project/archive/v1.0.zip"' in tags

    # The picker loads the names when opened, keeping the kind of page and the path; the page
    # itself carries none of them (git.git has over a thousand), only links to all of them.
    blob = text(client.get("/alice/project/blob/main/src/app.py"))
    assert "feature/x" not in blob and "v1.0" not in blob
    assert 'data-refs-url="/alice/project/refs"' in blob
    assert 'data-kind="blob" data-path="src/app.py"' in blob
    assert '<a href="/alice/project/branches">All branches (2)</a>' in blob
    assert '<a href="/alice/project/tags">All tags (2)</a>' in blob
    names = client.get("/alice/project/refs")
    assert names.status_code == 200 and names.content_type == "application/json"
    assert names.get_json() == {
        "branches": ["feature/x", "main"],
        "tags": ["light", "v1.0"],
        "default": "main",
    }
    unchanged = client.get("/alice/project/refs", headers={"If-None-Match": names.headers["ETag"]})
    assert unchanged.status_code == 304


# --- raw files -------------------------------------------------------------------------------


def test_raw_files_keep_their_bytes_and_never_run_in_the_page(client, git, project):
    files = {
        "page.html": "<html><script>alert(1)</script></html>\n",
        "pic.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>\n',
        "data.bin": bytes(range(256)) * 4,
        "notes é.txt": "crlf\r\nline\n",
    }
    commit(git, project.work, files, "Files of every kind")
    push(git, project, "main")

    def get(name):
        response = client.get(f"/alice/project/raw/main/{name}")
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        return response

    source = get("src/app.py")
    assert source.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert source.headers["Content-Disposition"].startswith('inline; filename="app.py"')
    assert source.get_data() == (project.work / "src/app.py").read_bytes()

    page = get("page.html")
    assert page.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert page.get_data() == files["page.html"].encode()

    svg = get("pic.svg")
    assert svg.headers["Content-Disposition"].startswith("attachment;")

    png = get("img/logo.png")
    assert png.headers["Content-Type"] == "image/png" and png.get_data() == PNG

    binary = get("data.bin")
    assert binary.headers["Content-Type"] == "application/octet-stream"
    assert binary.headers["Content-Disposition"].startswith('attachment; filename="data.bin"')
    assert binary.get_data() == files["data.bin"]
    assert int(binary.headers["Content-Length"]) == 1024

    accented = get("notes%20%C3%A9.txt")
    assert accented.get_data() == b"crlf\r\nline\n"
    assert "filename*=UTF-8''notes%20%C3%A9.txt" in accented.headers["Content-Disposition"]

    # The blob id is the ETag: a second fetch can be answered with 304.
    again = client.get(
        "/alice/project/raw/main/src/app.py", headers={"If-None-Match": source.headers["ETag"]}
    )
    assert again.status_code == 304


def test_a_too_large_file_is_not_shown_but_raw_has_it(client, git, project):
    big = ("x" * 99 + "\n") * 21_000  # 2.1 MB and 21,000 lines
    long = "line\n" * 20_001  # small, but too many lines
    edge = "line\n" * 20_000  # just short enough
    commit(git, project.work, {"big.txt": big, "long.txt": long, "edge.txt": edge}, "Big files")
    push(git, project, "main")
    page = text(client.get("/alice/project/blob/main/big.txt"))
    assert "too large to show" in page and 'href="/alice/project/raw/main/big.txt">View raw' in page
    assert 'id="L1"' not in page
    assert "too large to show" in text(client.get("/alice/project/blob/main/long.txt"))
    assert 'id="L20000"' in text(client.get("/alice/project/blob/main/edge.txt"))
    raw = client.get("/alice/project/raw/main/big.txt")
    assert raw.get_data() == big.encode()
    # Nor is the diff that adds them (the 20,000 lines of edge.txt use up what one page
    # shows, so long.txt after it is not shown either), nor a blame of them.
    diff = text(client.get("/alice/project/commit/main"))
    big_diff, edge_diff, long_diff = re.split(r'<section class="box diff-file"', diff)[1:]
    assert "This diff is too large to show." in big_diff and "big.txt" in big_diff
    assert "edge.txt" in edge_diff and "+20000" in edge_diff
    assert "Not shown: this change set is too large" in long_diff
    assert "too large" in text(client.get("/alice/project/blame/main/big.txt"))


# --- what users wrote is shown, never run ----------------------------------------------------


BAD_MARKUP = (
    "alert(",
    "onerror",
    "onclick",
    "javascript:",
    "data:",
    "style=",
    "<style",
    "<iframe",
    "<form",
    "<input name",
    "flash-error",
    'id="clone-url"',
)


def test_markdown_cannot_inject_script_handlers_links_or_styles(client, git, project):
    evil = """# Hello

<script>alert("readme")</script>
<img src="x.png" onerror="alert('img')">
<a href="javascript:alert('link')">click</a>
[md link](javascript:alert('md'))
[data link](data:text/html,<script>alert(1)</script>)
<p style="position:fixed;top:0">styled</p>
<style>body { display: none }</style>
<iframe src="https://example.org"></iframe>
<div onclick="alert('div')" class="flash-error">boxed</div>
<svg><script>alert('svg')</script></svg>
<form action="https://example.org"><input name="q"></form>
<a href="#hello" id="clone-url">anchor</a>
"""
    commit(git, project.work, {"README.md": evil}, "Evil README")
    push(git, project, "main")
    for url in ("/alice/project", "/alice/project/blob/main/README.md"):
        page = text(client.get(url))
        body = page.split('class="markdown-body">', 1)[1]
        for bad in BAD_MARKUP:
            assert bad not in body, (url, bad)
        assert "<h1" in body and "styled" in body and "boxed" in body
        assert page.count('id="clone-url"') <= 1  # the page's own, if any


def test_file_names_commit_messages_and_branch_names_are_escaped(client, git, project):
    name = "<img src=x onerror=alert(1)>.txt"
    message = "<b>bold</b> <script>alert('msg')</script>"
    sha = commit(git, project.work, {name: "hi\n"}, message)
    git.run("branch", 'x"<i>branch', cwd=project.work)
    push(git, project, "main", 'x"<i>branch')
    pages = [
        "/alice/project",
        "/alice/project/tree/main",
        "/alice/project/commits/main",
        f"/alice/project/commit/{sha}",
        "/alice/project/branches",
        "/alice/project/blob/main/src/app.py",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = text(response)
        assert "<img src=x" not in page and "<script>alert" not in page, url
        assert "<i>branch" not in page and "<b>bold</b>" not in page, url
    home = text(client.get("/alice/project"))
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in home
    assert "&lt;b&gt;bold&lt;/b&gt;" in home
    assert "x&#34;&lt;i&gt;branch" in text(client.get("/alice/project/branches"))
    blob = client.get("/alice/project/blob/main/%3Cimg%20src=x%20onerror=alert(1)%3E.txt")
    assert blob.status_code == 200 and "<img src=x" not in text(blob)


# --- bad input -------------------------------------------------------------------------------


def test_path_traversal_and_bad_paths_are_refused(client, project, settings):
    outside = settings.repos_dir / "alice" / "secret.txt"
    outside.write_text("do not show me\n")
    config = (settings.repos_dir / "alice" / "project.git" / "config").read_text()
    attempts = [
        "/alice/project/raw/main/../../secret.txt",
        "/alice/project/raw/main/%2e%2e/%2e%2e/secret.txt",
        "/alice/project/raw/main/%2E%2E/config",
        "/alice/project/blob/main/src/../../config",
        "/alice/project/tree/main/./src",
        "/alice/project/raw/main/src%00/app.py",
        "/alice/project/raw/main/src/app.py%00.txt",
        "/alice/project/blob/main//src",
        "/alice/project/raw/main/" + "a/" * 3000 + "x",
        "/alice/project/raw/" + "b" * 5000,
        "/alice/project/commits/main/..",
        "/alice/project/blame/main/%2e%2e/config",
        "/alice/project/archive/..%2f..%2fsecret.zip",
        "/alice/project/compare/main...%2e%2e",
    ]
    for url in attempts:
        response = client.get(url)
        assert response.status_code in (400, 404), (url, response.status_code)
        body = response.get_data()
        assert b"do not show me" not in body and config.encode() not in body, url


# --- history ---------------------------------------------------------------------------------


def fast_import(git, work: Path, count: int, branch="main") -> None:
    """Append `count` commits to `branch`, each changing counter.txt (and a second file every
    tenth time), quickly, through git fast-import."""
    lines = []
    parent = git.head(work, branch)
    for n in range(count):
        message = f"Commit number {n}".encode()
        lines.append(b"commit refs/heads/%s\n" % branch.encode())
        lines.append(
            b"committer Test Author <author@example.org> %d +0000\n" % (1700000000 + n * 60)
        )
        lines.append(b"data %d\n%s\n" % (len(message), message))
        if n == 0:
            lines.append(b"from %s\n" % parent.encode())
        data = b"%d\n" % n
        lines.append(b"M 100644 inline counter.txt\ndata %d\n%s\n" % (len(data), data))
        if n % 10 == 0:
            lines.append(b"M 100644 inline tenth.txt\ndata %d\n%s\n" % (len(data), data))
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=work, input=b"".join(lines), env=git.env, check=True
    )
    git.run("reset", "-q", "--hard", branch, cwd=work)


def commit_titles(page: str) -> list[str]:
    return [
        html.unescape(t) for t in re.findall(r'class="commit-title" href="[^"]+">([^<]*)</a>', page)
    ]


def test_history_is_paginated_and_can_follow_one_path(client, git, project):
    fast_import(git, project.work, 120)
    push(git, project, "main")
    first = commit_titles(text(client.get("/alice/project/commits/main")))
    assert len(first) == 50 and first[0] == "Commit number 119" and first[-1] == "Commit number 70"
    second = commit_titles(text(client.get("/alice/project/commits/main?page=2")))
    assert second[0] == "Commit number 69" and len(second) == 50
    third_page = text(client.get("/alice/project/commits/main?page=3"))
    third = commit_titles(third_page)
    assert len(third) == 22  # 20 imported and the two first commits
    assert third[-2:] == ["Add a version", "Initial import"]
    assert 'rel="next"' not in third_page and 'href="?page=2"' in third_page
    assert commit_titles(text(client.get("/alice/project/commits?page=3"))) == third
    assert commit_titles(text(client.get("/alice/project/commits/main?page=9"))) == []
    # The same history read again and again gives the same answer (it is cached by head).
    assert commit_titles(text(client.get("/alice/project/commits/main?page=2"))) == second

    # The history of one file lists only the commits that changed it, like `git log -- path`.
    tenth = commit_titles(text(client.get("/alice/project/commits/main/tenth.txt")))
    assert tenth == [f"Commit number {n}" for n in range(110, -1, -10)]
    git_log = git.run("log", "--format=%s", "main", "--", "src", cwd=project.work).stdout.split(
        "\n"
    )
    assert commit_titles(text(client.get("/alice/project/commits/main/src"))) == [
        t for t in git_log if t
    ]


def test_pages_read_at_once_by_many_agree_with_pages_read_one_by_one(git, project, live_server):
    """Threads of the live server share one walk of history and one cache of pages."""
    fast_import(git, project.work, 180)
    push(git, project, "main")
    urls = [f"{live_server}/alice/project/commits/main?page={n}" for n in (4, 1, 3, 2)]
    urls += [f"{live_server}/alice/project/commits/main/tenth.txt", f"{live_server}/alice/project"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda url: requests.get(url, timeout=60).text, urls * 4))
    alone = [requests.get(url, timeout=60).text for url in urls]
    for index, page in enumerate(together):
        expected = alone[index % len(urls)]
        assert commit_titles(page) == commit_titles(expected), urls[index % len(urls)]
    assert commit_titles(alone[0])[-1] == "Initial import"  # page 4: 180 + 2 = 182 commits


def test_merged_history_reads_as_git_log_does(client, git, project):
    """Two lines of work merged, with dates interleaved: the history, the history of a path
    and each entry's last commit are the ones `git log` gives."""
    work = project.work
    git.run("checkout", "-q", "-b", "side", cwd=work)
    clock = iter(range(1_800_000_000, 1_800_100_000, 600))

    def dated_commit(files, message):
        when = f"@{next(clock)} +0000"
        git.env["GIT_AUTHOR_DATE"] = git.env["GIT_COMMITTER_DATE"] = when
        try:
            return commit(git, work, files, message)
        finally:
            del git.env["GIT_AUTHOR_DATE"], git.env["GIT_COMMITTER_DATE"]

    dated_commit({"side.txt": "1\n"}, "Side one")
    git.run("checkout", "-q", "main", cwd=work)
    dated_commit({"src/app.py": APP + "# main\n"}, "Main one")
    git.run("checkout", "-q", "side", cwd=work)
    dated_commit({"docs/guide.md": "# Guide\n\nMore.\n"}, "Side two")
    git.run("checkout", "-q", "main", cwd=work)
    dated_commit({"main.txt": "m\n"}, "Main two")

    def git_log(*paths):
        out = git.run("log", "--format=%s", "main", "--", *paths, cwd=work).stdout
        return [line for line in out.split("\n") if line]

    def check_last_commits():
        home = text(client.get("/alice/project"))
        for name in ("docs", "img", "src", "side.txt", "main.txt", "README.md"):
            last = re.search(
                rf">{re.escape(name)}</a>.*?class=\"file-commit\"><a [^>]+>([^<]+)<", home, re.S
            )
            if last or git_log(name):
                assert last.group(1) == html.escape(git_log(name)[0]), name

    # Seen once before the merge: the answer after it starts from this one.
    push(git, project, "main")
    check_last_commits()
    git.env["GIT_AUTHOR_DATE"] = git.env["GIT_COMMITTER_DATE"] = f"@{next(clock)} +0000"
    git.run("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=work)
    del git.env["GIT_AUTHOR_DATE"], git.env["GIT_COMMITTER_DATE"]
    dated_commit({"docs/guide.md": "# Guide\n\nEven more.\n"}, "After the merge")
    push(git, project, "main")

    assert commit_titles(text(client.get("/alice/project/commits/main"))) == git_log()
    for path in ("docs", "docs/guide.md", "side.txt", "src/app.py", "README.md"):
        page = text(client.get(f"/alice/project/commits/main/{path}"))
        assert commit_titles(page) == git_log(path), path
    check_last_commits()
    blob = text(client.get("/alice/project/blob/main/docs/guide.md"))
    assert re.search(r'class="commit-title" href="[^"]+">After the merge<', blob)
    # One more commit on top: the walk stops where the last answer's head was.
    dated_commit({"main.txt": "m2\n"}, "Linear one")
    push(git, project, "main")
    check_last_commits()


def test_commit_page_shows_message_parents_diffstat_and_diffs(client, git, project):
    work = project.work
    before = git.head(work)
    (work / "docs/guide.md").rename(work / "docs/handbook.md")
    app = (work / "src/app.py").read_text().replace("count = len(argv)", "count = len(argv) + 1")
    sha = commit(
        git,
        work,
        {"src/app.py": app, "new.txt": "a new file\n", "img/logo.png": PNG + b"\x00more"},
        "Rework things\n\nA longer <explanation> of the change.",
    )
    git.run("rm", "-q", "README.md", cwd=work)
    git.run("commit", "-q", "-m", "Remove the README", cwd=work)
    push(git, project, "main")

    page = text(client.get(f"/alice/project/commit/{sha}"))
    assert '<h2 class="commit-summary">Rework things</h2>' in page
    assert "A longer &lt;explanation&gt; of the change." in page
    assert f'href="/alice/project/commit/{before}">{before[:7]}</a>' in page
    assert "4 changed files" in page and "2 additions" in page and "1 deletion<" in page
    renamed = (
        r'renamed">renamed</span>\s*<span class="diff-path">docs/guide.md &rarr; docs/handbook'
    )
    assert re.search(renamed, page)
    assert 'status-added">added</span>' in page and "Binary file not shown." in page
    # The hunk is the one git shows, with highlighted lines.
    git_hunk = re.search(
        r"^@@ .* @@", git.run("show", sha, "--", "src/app.py", cwd=work).stdout, re.M
    )
    assert git_hunk.group(0) in page
    assert '<tr class="del"><td class="num">6</td><td class="num"></td>' in page
    added = '<span class="n">argv</span><span class="p">)</span> <span class="o">+</span> '
    assert added + '<span class="mi">1</span>' in page
    split = text(client.get(f"/alice/project/commit/{sha}?view=split"))
    assert 'class="diff-table split"' in split and 'class="num del">6</td>' in split

    removed = text(client.get("/alice/project/commit/main"))
    assert 'status-deleted">deleted</span>' in removed and "# Project title" in removed


def test_a_huge_diff_says_so_instead_of_hanging(client, git, project):
    huge = "".join(f"line {n}\n" for n in range(100_000))
    many = {f"many/file{n:03d}.txt": "".join(f"{n} {i}\n" for i in range(400)) for n in range(80)}
    commit(git, project.work, {"huge.txt": huge, **many}, "Huge change")
    push(git, project, "main")
    page = text(client.get("/alice/project/commit/main"))
    assert "This diff is too large to show." in page
    assert "Not shown: this change set is too large" in page
    assert 'href="/alice/project/raw/' in page


def test_a_long_file_changed_by_a_commit_is_diffed_highlighted_around_the_change(
    client, git, project
):
    long = "".join(f"def f{n}():\n    return {n}\n" for n in range(1500))  # 3,000 lines
    commit(git, project.work, {"src/long.py": long}, "Add a long module")
    changed = long.replace("    return 7\n", "    return 'seven'\n", 1)
    commit(git, project.work, {"src/long.py": changed}, "Spell seven out")
    push(git, project, "main")
    page = text(client.get("/alice/project/commit/main"))
    # The changed line, highlighted: the lines around it are, not all 3,000 on each side,
    # which cost the page seconds on real repositories.
    rows = page.split('class="diff-table')[1].split("</tr>")
    [added] = [row for row in rows if "seven" in row]
    assert '<span class="k">return</span>' in added and '<span class="s1">seven</span>' in added
    [removed] = [row for row in rows if '<span class="mi">7</span>' in row]
    assert '<span class="k">return</span>' in removed
    # A short file's diff is still highlighted.
    commit(git, project.work, {"src/app.py": APP.replace("count = len(argv)", "n = 1")}, "n")
    push(git, project, "main")
    short = text(client.get("/alice/project/commit/main"))
    assert "<span" in short.split('class="diff-table')[1]


def test_blame_names_the_author_of_each_line(client, git, project):
    work = project.work
    commit(git, work, {"poem.txt": "one\ntwo\nthree\n"}, "Write a poem")
    commit(
        git,
        work,
        {"poem.txt": "one\nTWO\nthree\nfour\n"},
        "Shout",
        author="Bob Builder <bob@example.org>",
    )
    push(git, project, "main")
    page = text(client.get("/alice/project/blame/main/poem.txt"))
    rows = re.findall(r'<tr id="L(\d+)".*?</tr>', page, re.S)
    assert rows == ["1", "2", "3", "4"]
    authors = re.findall(r'class="blame-author">([^<]+)<', page)
    titles = re.findall(r'class="commit-title" href="[^"]+" title="[^"]*">([^<]+)<', page)
    # Line 1: Test Author; 2: Bob; 3: Test Author; 4: Bob — four groups of one line.
    assert authors == ["Test Author", "Bob Builder", "Test Author", "Bob Builder"]
    assert titles == ["Write a poem", "Shout", "Write a poem", "Shout"]
    git_blame = git.run("blame", "--line-porcelain", "poem.txt", cwd=work).stdout
    assert re.findall(r"^author (.+)$", git_blame, re.M) == authors


# --- branches, compare, archives -------------------------------------------------------------


def test_compare_shows_the_commits_and_the_diff(client, git, project):
    work = project.work
    git.run("checkout", "-q", "-b", "topic", cwd=work)
    commit(git, work, {"topic.txt": "topic work\n"}, "Topic one")
    commit(git, work, {"src/app.py": APP.replace("os", "sys")}, "Topic two")
    git.run("checkout", "-q", "main", cwd=work)
    commit(git, work, {"main-only.txt": "main\n"}, "Main moves on")
    push(git, project, "main", "topic")
    page = text(client.get("/alice/project/compare/main...topic"))
    assert commit_titles(page)[:2] == ["Topic two", "Topic one"]
    assert "Main moves on" not in page
    assert "topic.txt" in page and "main-only.txt" not in page
    assert "2 changed files" in page
    nothing = text(client.get("/alice/project/compare/topic...topic"))
    assert "isn&#39;t anything to compare" in nothing or "isn't anything to compare" in nothing
    form = client.get("/alice/project/compare?base=main&head=topic")
    assert form.headers["Location"].endswith("/alice/project/compare/main...topic")
    assert 'href="/alice/project/compare/main...topic"' in text(
        client.get("/alice/project/branches")
    )


def test_archives_hold_the_files_of_a_revision(client, git, project):
    git.run("tag", "v2", cwd=project.work)
    push(git, project, "v2")
    response = client.get("/alice/project/archive/main.tar.gz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert 'attachment; filename="project-main.tar.gz"' in response.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.get_data()), mode="r:gz") as archive:
        names = sorted(archive.getnames())
        assert "project-main/src/app.py" in names and "project-main/img/logo.png" in names
        assert (
            archive.extractfile("project-main/src/app.py").read()
            == (project.work / "src/app.py").read_bytes()
        )
    response = client.get("/alice/project/archive/v2.zip")
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(
            "project-v2/" + n for n in ("README.md", "docs/guide.md", "img/logo.png", "src/app.py")
        )
        assert archive.read("project-v2/img/logo.png") == PNG


# --- who may see it --------------------------------------------------------------------------


def test_a_private_repository_is_404_to_anonymous_and_strangers(
    client, app, git, hosted_repo, make_user, login, tmp_path
):
    repo = hosted_repo("carol", "hidden", private=True)
    work = git.init(tmp_path / "hidden", {"README.md": "# secret plans\n", "a.txt": "a\n"})
    git.run("tag", "v1", cwd=work)
    git.run("push", "-q", repo.push_url, "main", "v1", cwd=work)
    sha = git.head(work)
    urls = [
        "/carol/hidden",
        "/carol/hidden/tree/main",
        "/carol/hidden/blob/main/a.txt",
        "/carol/hidden/raw/main/a.txt",
        "/carol/hidden/blame/main/a.txt",
        "/carol/hidden/commits/main",
        "/carol/hidden/commits",
        f"/carol/hidden/commit/{sha}",
        "/carol/hidden/branches",
        "/carol/hidden/tags",
        "/carol/hidden/refs",
        "/carol/hidden/compare/v1...main",
        "/carol/hidden/archive/main.zip",
        "/carol/hidden/archive/main.tar.gz",
    ]
    make_user("stranger")
    stranger = login("stranger", test_client=app.test_client())
    owner = login("carol", test_client=app.test_client())
    for url in urls:
        for who in (client, stranger):
            response = who.get(url)
            assert response.status_code == 404, url
            assert b"secret plans" not in response.get_data()
        assert owner.get(url).status_code == 200, url
    assert "secret plans" in text(owner.get("/carol/hidden"))


def test_the_highlighting_stylesheet_is_the_generated_one():
    assert (ROOT / "static" / "pygments.css").read_text() == stylesheet()


def test_commit_list_shows_each_commits_checks_with_links_to_them(client, api, project):
    # CI's statuses (ci/<job>) and any other service's show beside the commits they are on.
    head = project.second
    for context, state, url in [
        ("ci/test", "success", "http://ci.example.org/runs/1"),
        ("lint", "failure", None),
    ]:
        answer = api(
            "POST",
            f"/repos/alice/project/statuses/{head}",
            project.token,
            json={"state": state, "context": context, "target_url": url},
        )
        assert answer.status_code == 201, answer.text

    page = client.get("/alice/project/commits").get_data(as_text=True)
    assert page.count('class="checks"') == 1  # the older commit has none
    checks = page[page.index('class="checks"') :]
    assert 'aria-label="Checks: failure"' in checks
    assert "<strong>ci/test</strong>: success" in checks
    assert '<a href="http://ci.example.org/runs/1" rel="nofollow noopener">Details</a>' in checks
    assert "<strong>lint</strong>: failure</li>" in checks  # no link where there is none

    # A new status shows at once, though the list itself is cached.
    api(
        "POST",
        f"/repos/alice/project/statuses/{head}",
        project.token,
        json={"state": "success", "context": "lint"},
    )
    page = client.get("/alice/project/commits").get_data(as_text=True)
    assert 'aria-label="Checks: success"' in page
