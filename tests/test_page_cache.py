"""The page cache on disk: what pages compute from history survives a restart, is shared by
another process of the site, stays within FORGE_PAGE_CACHE_MB, and a damaged one is a miss."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from forge.app import create_app
from forge.git.page_cache import PageCache

# A fresh process of the site (a restart, or another web worker): it shows the pages and says
# how many commits' headers it read, which is what walking history costs.
FRESH_PROCESS = """
import json, sys
from forge.app import create_app
from forge.git import browse
from forge.repos import file_views
highlighted = []  # each highlighting done in this process
highlight_lines = file_views.highlight_lines
file_views.highlight_lines = lambda *args: highlighted.append(args[1]) or highlight_lines(*args)
app = create_app()
rendered = []  # each file's rows rendered in this process (their line counts)
code_rows = app.jinja_env.globals["code_rows"]
app.jinja_env.globals["code_rows"] = lambda lines: rendered.append(len(lines)) or code_rows(lines)
client = app.test_client()
pages = {path: client.get(path) for path in json.loads(sys.argv[1])}
print(json.dumps({
    "status": {path: page.status_code for path, page in pages.items()},
    "pages": {path: page.get_data(as_text=True) for path, page in pages.items()},
    "commits_walked": len(browse._HEADERS),
    "commits_read": sorted(sha for _repo, sha in browse._COMMITS._items),
    "files_highlighted": len(file_views._HIGHLIGHTED),
    "highlighted": highlighted,
    "rendered": rendered,
}))
"""


def commits_on(page: str) -> list[str]:
    """The commits a page links to, in order: what a reader of it is told."""
    return re.findall(r'href="/alice/project/commit/([0-9a-f]{40})"', page)


@pytest.fixture
def project(git, hosted_repo, tmp_path):
    """alice/project with a few dozen commits touching three files in two folders."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"src/a.txt": "a\n", "docs/b.txt": "b\n", "c.txt": "c\n"})
    for n in range(30):
        path = ("src/a.txt", "docs/b.txt", "c.txt")[n % 3]
        old = (work / path).read_text()
        git.commit(work, {path: old + f"line {n}\n"}, f"Change {n}")
    git.run("push", "-q", repo.push_url, "HEAD:refs/heads/main", cwd=work)
    return repo


PAGES = [
    "/alice/project",
    "/alice/project/tree/main/src",
    "/alice/project/commits/main/docs/b.txt",
    "/alice/project/blame/main/c.txt",
]


def in_fresh_process(settings, page_cache_mb: int, pages: list[str] = PAGES) -> dict:
    env = {**os.environ, **replace(settings, page_cache_mb=page_cache_mb).environment()}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(pages)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_a_restarted_site_shows_history_pages_without_walking_history(project, client, settings):
    seen = {path: client.get(path) for path in PAGES}
    assert {path: page.status_code for path, page in seen.items()} == dict.fromkeys(PAGES, 200)
    assert (settings.home / "cache" / "pages.sqlite").exists()

    fresh = in_fresh_process(settings, settings.page_cache_mb)
    assert fresh["status"] == dict.fromkeys(PAGES, 200)
    for path in PAGES:
        assert commits_on(fresh["pages"][path]) == commits_on(seen[path].get_data(as_text=True))
    # Last commits of the folders, the file's history and its blame all came from the disk.
    assert fresh["commits_walked"] == 0

    # The same fresh start with the cache turned off walks history again, as before.
    without = in_fresh_process(settings, 0)
    assert without["status"] == dict.fromkeys(PAGES, 200)
    assert without["commits_walked"] > 0


def test_a_restarted_site_lists_a_folder_without_reading_its_entries_commits(
    project, client, settings, git
):
    # Each entry's last commit is shown by its summary and date, kept on disk with its id:
    # git.git's home read its 400 commits again after every restart.
    seen = client.get("/alice/project").get_data(as_text=True)
    bare = settings.repos_dir / "alice" / "project.git"
    head = git.run("rev-parse", "main", cwd=bare).stdout.strip()
    listed = set(commits_on(seen)) - {head}
    assert len(listed) == 2  # src/ and docs/ last changed before the head

    fresh = in_fresh_process(settings, settings.page_cache_mb, ["/alice/project"])
    assert commits_on(fresh["pages"]["/alice/project"]) == commits_on(seen)
    assert "Change 27" in fresh["pages"]["/alice/project"]
    assert fresh["commits_read"] == [head]

    without = in_fresh_process(settings, 0, ["/alice/project"])
    assert listed <= set(without["commits_read"])


def test_a_restarted_site_shows_compares_and_commits_without_diffing_again(
    project, client, settings, git
):
    """A compare of two git.git releases takes seconds to diff: the diffs are kept on disk
    with the rest, so a restarted (or another) worker shows them as they were."""
    bare = settings.repos_dir / "alice" / "project.git"
    commits = git.run("rev-list", "main", cwd=bare).stdout.split()
    pages = [f"/alice/project/compare/{commits[12]}...main", f"/alice/project/commit/{commits[3]}"]
    seen = {path: client.get(path).get_data(as_text=True) for path in pages}

    fresh = in_fresh_process(settings, settings.page_cache_mb, pages)
    assert fresh["status"] == dict.fromkeys(pages, 200)
    for path in pages:
        assert diff_rows(fresh["pages"][path]) == diff_rows(seen[path]) != []
    assert fresh["files_highlighted"] == 0  # nothing diffed (and highlighted) again

    without = in_fresh_process(settings, 0, pages)
    assert without["files_highlighted"] > 0


def test_a_restarted_site_shows_a_long_file_without_highlighting_it_again(
    project, client, settings, git, tmp_path
):
    work = tmp_path / "long"
    git.run("clone", "-q", project.push_url, str(work))
    long = "".join(f"def f{n}():\n    return {n}\n" for n in range(400))  # 800 lines
    git.commit(work, {"src/long.py": long, "src/short.py": "x = 1\n"}, "Add a long module")
    git.run("push", "-q", "origin", "HEAD:main", cwd=work)
    pages = ["/alice/project/blob/main/src/long.py", "/alice/project/blob/main/src/short.py"]
    seen = {path: client.get(path).get_data(as_text=True) for path in pages}
    assert '<span class="k">def</span>' in seen[pages[0]]

    fresh = in_fresh_process(settings, settings.page_cache_mb, pages)
    assert fresh["status"] == dict.fromkeys(pages, 200)
    for path in pages:
        assert code_rows(fresh["pages"][path]) == code_rows(seen[path]) != []
    # The long file's lines came from the disk; a short one is quicker to highlight again.
    assert fresh["highlighted"] == ["short.py"]
    # And so did its rendered rows; the short file's are rendered again (one line).
    assert fresh["rendered"] == [1]
    assert in_fresh_process(settings, 0, pages)["rendered"] == [800, 1]


def code_rows(page: str) -> list[str]:
    return re.findall(r'<tr id="L\d+".*?</tr>', page, re.S)


def diff_rows(page: str) -> list[str]:
    return re.findall(r"<tr class=\"(?:add|del|context)\">.*?</tr>", page, re.S)


def test_the_maintenance_after_a_push_walks_history_so_the_first_visitor_does_not(
    project, settings
):
    path = settings.repos_dir / "alice" / "project.git"
    env = {**os.environ, **settings.environment()}
    job = "import sys; from forge.jobs import maintain_repository; maintain_repository(sys.argv[1])"
    # The job as a worker runs it: a process of its own, the site's settings in its environment.
    subprocess.run([sys.executable, "-c", job, str(path)], env=env, timeout=120, check=True)
    assert (path / "objects" / "info" / "commit-graph").exists()
    first_visit = in_fresh_process(settings, settings.page_cache_mb, ["/alice/project"])
    assert first_visit["status"] == {"/alice/project": 200}
    assert len(commits_on(first_visit["pages"]["/alice/project"])) >= 4  # each entry's last
    assert first_visit["commits_walked"] == 0


def test_the_cache_stays_within_its_bound_and_drops_the_oldest(tmp_path):
    cache = PageCache(tmp_path / "pages.sqlite", max_bytes=256 * 1024)
    for n in range(200):
        cache.put(f"entry:{n:03d}", os.urandom(4096))  # random bytes do not compress
    assert cache.total_bytes() <= 256 * 1024
    assert cache.get("entry:199") is not None and cache.get("entry:198") is not None
    assert cache.get("entry:001") is None
    # A second process of the site opens the same file and finds the same entries.
    other = PageCache(tmp_path / "pages.sqlite", max_bytes=256 * 1024)
    assert other.get("entry:199") == cache.get("entry:199")


def test_a_damaged_cache_file_is_only_a_miss(project, settings, client):
    (settings.home / "cache").mkdir(exist_ok=True)
    (settings.home / "cache" / "pages.sqlite").write_bytes(b"not a database" * 1000)
    create_app(settings)  # a restart onto the damaged file
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_a_bad_cache_size_stops_the_start(settings):
    from forge.config import ConfigError, Settings

    env = {**settings.environment(), "FORGE_PAGE_CACHE_MB": "lots"}
    with pytest.raises(ConfigError, match="FORGE_PAGE_CACHE_MB must be a whole number"):
        Settings.from_env(env)
