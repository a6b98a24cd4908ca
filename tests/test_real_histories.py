"""Real histories pushed by real git: what C git accepts, forge accepts, and says what git says.

The bundles in ../shared/testdata/ are public repositories as published (flask, dulwich);
nobody here wrote their objects. flask has trees with zero-padded modes (git fsck:
zeroPaddedFilemode, a warning), dulwich has trees with mode 100000 (badFilemode, a note) and,
from 2009, trees with a `.git` folder (hasDotgit), which forge refuses whatever is set. git.git's
tag v0.99 has no tagger (missingTaggerEntry); git.git itself is too large for the suite, so
that tag is written here byte for byte as it is in git.git.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import HostedRepo
from dulwich.commit_graph import read_commit_graph

from forge.app import create_app
from forge.config import ConfigError
from forge.git import index_pack, storage
from forge.git.browse import RepoReader
from forge.git.commit_graph import loaded_graph, write_commit_graph
from forge.git.maintenance import merge_packs
from forge.models import Repository

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
ALL_REFS = ("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")

# What `git fsck` says of these histories (git 2.x), object by object.
FLASK_PADDED_TREES = [
    "0b404df8c030cdeaca7b373956c3a697efd32f78",
    "679afdb340e9e1011927b52d2cd48bd221159131",
    "6a37da079f3bed362608b2558b162617c0c3af5c",
    "51ea366fd4253b3a618289dc1c0c4bb16a3c2a22",
    "77c7430020693d35500ca4fc292cff63fc3e672b",
]
DULWICH_DOTGIT_TREES = {
    "e5f1393aeea756d43d574504d932a887a36f1ce8",
    "de750728425824837d8e774361b1033cbc0f2843",
    "4d73ba3255064784acec2a5102790c707d042043",
    "eaea53f8085ad0f9cd299b534774dfaef2bc26f1",
}
# dulwich/tests of 2018, holding test_porcelain.py as mode 100000.
DULWICH_BAD_MODE_TREE = "dc6afd8bd24556659fcbe6438ef6fc9f9c45db7a"

# git.git's tag v0.99 (d6602ec5194c87b0fc87103ca4d67251c76f233a), which has no tagger line;
# only the object it names differs here.
V0_99 = "object {commit}\ntype commit\ntag v0.99\n\nTest-release for wider distribution.\n"


def bundle(name: str) -> Path:
    path = TESTDATA / f"{name}.bundle"
    if not path.exists():
        pytest.fail(f"{path} is missing: the real histories these tests push are shared there")
    return path


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """Bare clones of the bundles, made once: (name -> path)."""
    from conftest import Git

    git = Git(tmp_path_factory.mktemp("git-home"))
    root = tmp_path_factory.mktemp("histories")
    clones = {}
    for name in ("flask", "dulwich"):
        clones[name] = root / f"{name}.git"
        git.run("clone", "-q", "--mirror", str(bundle(name)), str(clones[name]), timeout=300)
    return clones


def server_refs(git, repo: HostedRepo) -> dict[str, str]:
    listed = git.run("ls-remote", repo.push_url).stdout.splitlines()
    pairs = (line.split("\t") for line in listed)
    return {ref: sha for sha, ref in pairs if ref != "HEAD" and not ref.endswith("^{}")}


def local_refs(git, path: Path) -> dict[str, str]:
    listed = git.run("for-each-ref", "--format=%(refname) %(objectname)", cwd=path).stdout
    return dict(line.split(" ") for line in listed.splitlines())


def head_of(settings, database, repo: HostedRepo) -> tuple[str, str]:
    """HEAD on disk and the default branch the database holds."""
    path = storage.repo_path(settings.repos_dir, repo.owner, repo.name)
    on_disk = (path / "HEAD").read_text().strip()
    with database.session() as session:
        row = session.query(Repository).filter_by(name=repo.name).one()
        return on_disk, row.default_branch


def push(git, cwd: Path, repo: HostedRepo, *refspecs: str, check=True):
    started = time.monotonic()
    result = git.run(
        "push", "--porcelain", repo.push_url, *refspecs, cwd=cwd, check=check, timeout=600
    )
    return result, time.monotonic() - started


def resolving_line(objects: int) -> str:
    """What the pusher is told when forge resolves a large pack's deltas (forge.git.index_pack)."""
    processes = min(len(os.sched_getaffinity(0)), index_pack.MAX_PROCESSES)
    if processes < 2:
        return f"remote: Resolving deltas of {objects} objects."
    return f"remote: Resolving deltas of {objects} objects in {processes} processes."


def warnings(stderr: str) -> list[str]:
    # git pads `remote:` lines with spaces, to blank out what progress wrote there.
    lines = (line.rstrip() for line in stderr.splitlines())
    return [line for line in lines if line.startswith("remote: warning: ")]


# --- flask: zero-padded modes, a warning ----------------------------------------------------


def test_flask_is_accepted_with_gits_warnings_and_head_on_main(
    histories, git, hosted_repo, settings, database, api
):
    repo = hosted_repo("alice", "flask")
    result, seconds = push(git, histories["flask"], repo, *ALL_REFS)
    print(f"flask pushed in {seconds:.1f} s")
    assert server_refs(git, repo) == local_refs(git, histories["flask"])
    # Each tree git fsck warns about, under git's msg-id, as git's own words.
    assert sorted(warnings(result.stderr)) == sorted(
        f"remote: warning: object {tree}: zeroPaddedFilemode: contains zero-padded file modes"
        for tree in FLASK_PADDED_TREES
    )
    # 26,179 objects: resolved in a share per core, and every share's warnings are shown.
    assert resolving_line(26_179) in result.stderr
    # flask has both main and master: main, as git and GitHub choose.
    assert head_of(settings, database, repo) == ("ref: refs/heads/main", "main")
    # And an admin changes it as on GitHub: PATCH /repos/{o}/{r} with default_branch.
    answer = api("PATCH", "/repos/alice/flask", repo.token, json={"default_branch": "master"})
    assert answer.status_code == 200 and answer.json()["default_branch"] == "master"
    assert head_of(settings, database, repo) == ("ref: refs/heads/master", "master")


def test_flask_pushed_onto_its_first_release_comes_back_whole(
    histories, git, hosted_repo, settings, tmp_path
):
    # The second push is thin: deltas on objects of 0.1, which the repository already has,
    # name their base by id. Those chains are shared out among the processes too.
    repo = hosted_repo("alice", "flask")
    push(git, histories["flask"], repo, "refs/tags/0.1:refs/tags/0.1")
    result, _seconds = push(git, histories["flask"], repo, *ALL_REFS)
    assert re.search(resolving_line(0).replace(" 0 ", r" \d+ "), result.stderr), result.stderr
    assert server_refs(git, repo) == local_refs(git, histories["flask"])
    # Each pack's index is the one git's index-pack writes for it, byte for byte.
    packs = sorted((settings.repos_dir / "alice" / "flask.git" / "objects" / "pack").glob("*.pack"))
    assert packs
    for number, pack in enumerate(packs):
        ours = pack.with_suffix(".idx").read_bytes()
        theirs = tmp_path / f"git-{number}.idx"
        git.run("index-pack", "-o", str(theirs), str(pack), timeout=300)
        assert ours == theirs.read_bytes(), pack.name
    clone = tmp_path / "clone.git"
    git.run("clone", "-q", "--mirror", repo.url, str(clone), timeout=300)
    assert git.run("fsck", "--no-dangling", cwd=clone, check=False, timeout=300).returncode == 0
    assert local_refs(git, clone) == local_refs(git, histories["flask"])


def test_a_repository_setting_error_refuses_flask_naming_the_msg_id(
    histories, git, hosted_repo, api, settings, database
):
    repo = hosted_repo("alice", "flask")
    answer = api(
        "PUT",
        "/repos/alice/flask/fsck",
        repo.token,
        json={"severities": {"zeroPaddedFilemode": "error"}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["effective"]["zeroPaddedFilemode"] == "error"
    result, _seconds = push(git, histories["flask"], repo, *ALL_REFS, check=False)
    assert result.returncode != 0
    assert "zeroPaddedFilemode: contains zero-padded file modes" in result.stderr
    assert any(
        f"remote: error: object {tree}: zeroPaddedFilemode: contains zero-padded file modes"
        in result.stderr
        for tree in FLASK_PADDED_TREES
    )
    # Nothing changed: no ref, HEAD as the repository was made.
    assert server_refs(git, repo) == {}
    assert head_of(settings, database, repo) == ("ref: refs/heads/main", "main")


# --- dulwich: a `.git` folder in 2009, mode 100000 in 2018 ----------------------------------


def test_dulwich_is_refused_for_its_dotgit_trees_even_when_set_to_ignore(
    histories, git, hosted_repo, api, settings, database
):
    repo = hosted_repo("alice", "dulwich")
    # The API will not set it ...
    answer = api(
        "PUT", "/repos/alice/dulwich/fsck", repo.token, json={"severities": {"hasDotgit": "ignore"}}
    )
    assert answer.status_code == 422
    assert "hasDotgit cannot be set to ignore: forge always refuses it" in answer.text
    # ... and written straight into the database, it changes nothing either.
    with database.session() as session:
        session.query(Repository).filter_by(name="dulwich").one().fsck = "hasDotgit=ignore"
    result, seconds = push(git, histories["dulwich"], repo, *ALL_REFS, check=False)
    print(f"dulwich refused in {seconds:.1f} s")
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if "hasDotgit" in line]
    assert refusals, result.stderr
    assert refusals[0].startswith("remote: error: object ")
    assert refusals[0].split("object ")[1].split(":")[0] in DULWICH_DOTGIT_TREES
    assert ": hasDotgit: contains '.git' (an entry named '.git'" in refusals[0]
    assert server_refs(git, repo) == {}
    assert head_of(settings, database, repo) == ("ref: refs/heads/main", "main")


@pytest.fixture
def bad_mode_commit(histories, git, tmp_path):
    """A repository holding one commit of dulwich's 2018 tests folder (mode 100000 inside),
    without the 2009 history that has `.git` trees."""
    work = tmp_path / "bad-mode"
    git.run("init", "-q", "--bare", str(work))
    # Borrowing dulwich's objects, as `git clone --shared` does: none are copied.
    (work / "objects" / "info" / "alternates").write_text(f"{histories['dulwich']}/objects\n")
    commit = git.run(
        "commit-tree", DULWICH_BAD_MODE_TREE, "-m", "dulwich's tests of 2018", cwd=work
    ).stdout.strip()
    objects = git.run("rev-list", "--objects", commit, cwd=work).stdout
    assert not DULWICH_DOTGIT_TREES & {line.split(" ")[0] for line in objects.splitlines()}
    return work, commit


def test_a_bad_mode_is_a_warning_and_head_follows_the_only_branch_pushed(
    bad_mode_commit, git, hosted_repo, settings, database
):
    work, commit = bad_mode_commit
    repo = hosted_repo("alice", "modes")
    result, _seconds = push(git, work, repo, f"{commit}:refs/heads/topic")
    assert warnings(result.stderr) == [
        f"remote: warning: object {DULWICH_BAD_MODE_TREE}: badFilemode: "
        "contains bad file modes (100000)"
    ]
    assert server_refs(git, repo) == {"refs/heads/topic": commit}
    # Neither main nor master was pushed: the first branch that was.
    assert head_of(settings, database, repo) == ("ref: refs/heads/topic", "topic")


def test_a_repository_setting_ignore_silences_the_warning(bad_mode_commit, git, hosted_repo, api):
    work, commit = bad_mode_commit
    repo = hosted_repo("alice", "modes")
    answer = api(
        "PUT", "/repos/alice/modes/fsck", repo.token, json={"severities": {"badfilemode": "IGNORE"}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["severities"] == {"badFilemode": "ignore"}
    result, _seconds = push(git, work, repo, f"{commit}:refs/heads/main")
    assert "badFilemode" not in result.stderr
    assert warnings(result.stderr) == []
    assert server_refs(git, repo) == {"refs/heads/main": commit}


# --- git.git's v0.99: a tag without a tagger --------------------------------------------------


@pytest.fixture
def untagged(git, tmp_path):
    """A repository with branches bisect and master, and tag v0.99 as git.git has it."""
    work = git.init(tmp_path / "work")
    git.run("branch", "-m", "master", cwd=work)
    git.run("branch", "bisect", cwd=work)
    commit = git.head(work)
    tag = git.run(
        "hash-object",
        "-t",
        "tag",
        "-w",
        "--literally",
        "--stdin",
        cwd=work,
        input=V0_99.format(commit=commit),
    ).stdout.strip()
    git.run("update-ref", "refs/tags/v0.99", tag, cwd=work)
    return work, tag


def test_a_tag_without_tagger_is_accepted_with_a_warning_and_head_is_master(
    untagged, git, hosted_repo, settings, database
):
    work, tag = untagged
    repo = hosted_repo("alice", "git")
    # bisect comes first, in the push's order and the alphabet's.
    result, _seconds = push(
        git, work, repo, "refs/heads/bisect", "refs/heads/master", "refs/tags/v0.99"
    )
    assert warnings(result.stderr) == [
        f"remote: warning: object {tag}: missingTaggerEntry: "
        "invalid format - expected 'tagger' line"
    ]
    assert server_refs(git, repo) == local_refs(git, work)
    assert head_of(settings, database, repo) == ("ref: refs/heads/master", "master")


@pytest.mark.parametrize("settings", ["missingTaggerEntry=error"], indirect=True)
def test_a_site_setting_error_refuses_the_tag_and_changes_nothing(
    untagged, git, hosted_repo, settings, database, api
):
    work, tag = untagged
    repo = hosted_repo("alice", "git")
    answer = api("GET", "/repos/alice/git/fsck", repo.token)
    assert answer.json()["site"] == {"missingTaggerEntry": "error"}
    result, _seconds = push(git, work, repo, "refs/heads/master", "refs/tags/v0.99", check=False)
    assert result.returncode != 0
    assert (
        f"remote: error: object {tag}: missingTaggerEntry: invalid format - expected 'tagger' line"
    ) in result.stderr
    assert server_refs(git, repo) == {}
    assert head_of(settings, database, repo) == ("ref: refs/heads/main", "main")
    # The repository's own setting wins over the site's.
    answer = api(
        "PUT",
        "/repos/alice/git/fsck",
        repo.token,
        json={"severities": {"missingTaggerEntry": "warn"}},
    )
    assert answer.status_code == 200
    result, _seconds = push(git, work, repo, "refs/heads/master", "refs/tags/v0.99")
    assert "missingTaggerEntry" in result.stderr
    assert set(server_refs(git, repo)) == {"refs/heads/master", "refs/tags/v0.99"}


# --- the settings themselves ----------------------------------------------------------------


@pytest.fixture
def settings(settings, request):
    """The site's FORGE_FSCK, for tests that set one (indirect parametrization). Push
    protection is off, as a site importing histories turns it: dulwich's and git's own tests
    hold credential-shaped fixtures (fake tokens, test keys) that it refuses, each with a link
    to allow it (tests/test_push_protection.py); what these tests ask is whether forge takes
    every object git takes."""
    settings.fsck = getattr(request, "param", "")
    settings.push_protection = False
    return settings


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"severities": {"hasDotdot": "warn"}}, "hasDotdot cannot be set to warn"),
        ({"severities": {"noSuchCheck": "warn"}}, "forge makes no check named 'noSuchCheck'"),
        ({"severities": {"badFilemode": "loud"}}, "badFilemode must be one of error, warn, ignore"),
        ({"severities": ["badFilemode"]}, "severities must be a dict"),
    ],
)
def test_bad_repository_settings_are_refused_and_change_nothing(
    hosted_repo, api, make_user, make_token, body, problem
):
    repo = hosted_repo("alice", "checks")
    api(
        "PUT",
        "/repos/alice/checks/fsck",
        repo.token,
        json={"severities": {"badTagName": "error"}},
    )
    answer = api("PUT", "/repos/alice/checks/fsck", repo.token, json=body)
    assert answer.status_code == 422
    assert problem in answer.text
    kept = api("GET", "/repos/alice/checks/fsck", repo.token).json()
    assert kept["severities"] == {"badTagName": "error"}
    # Only the repository's admins see or change them.
    make_user("bob")
    bob = make_token("bob")
    assert api("GET", "/repos/alice/checks/fsck", bob).status_code in (403, 404)
    change = {"severities": {}}
    assert api("PUT", "/repos/alice/checks/fsck", bob, json=change).status_code in (403, 404)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hasDotgit=ignore", "hasDotgit cannot be set to ignore"),
        ("zeroPaddedFilemode", "'zeroPaddedFilemode' is not MSG_ID=SEVERITY"),
        ("zeroPaddedFilemode=off", "zeroPaddedFilemode must be one of error, warn, ignore"),
    ],
)
def test_a_bad_site_setting_stops_the_start(settings, value, problem):
    with pytest.raises(ConfigError, match="FORGE_FSCK: " + problem):
        create_app(replace(settings, fsck=value))


# --- browsing and blame: every page, and blame as git blame says ----------------------------

# Files whose history has renames (flask/ moved to src/flask/ in 2019), merges and rewrites.
FLASK_BLAMED = [
    "src/flask/app.py",
    "src/flask/helpers.py",
    "src/flask/cli.py",
    "CHANGES.rst",
    "docs/config.rst",
    "README.md",
]
# dulwich's history is rich in merges from other branches; forge refuses to host it (its 2009
# `.git` trees), so its blame is read from the bare clone by forge.git itself.
DULWICH_BLAMED = ["dulwich/objects.py", "dulwich/repo.py", "dulwich/index.py", "Makefile"]
PORCELAIN_HEADER = re.compile(r"^([0-9a-f]{40}) \d+ (\d+)", re.M)


def git_blame(git, repository: Path, revision: str, path: str) -> list[str]:
    """The commit `git blame --porcelain` names for each line, in line order."""
    out = git.run("blame", "--porcelain", revision, "--", path, cwd=repository).stdout
    named = {int(line): sha for sha, line in PORCELAIN_HEADER.findall(out)}
    return [named[number] for number in range(1, len(named) + 1)]


def blamed_on_page(page: str) -> list[str]:
    """The commit the blame page links beside each line (a group's link covers its rows)."""
    commits, current = [], None
    for row in re.findall(r'<tr id="L\d+".*?</tr>', page, re.S):
        link = re.search(r'class="commit-title" href="/[^"]*/commit/([0-9a-f]{40})"', row)
        current = link.group(1) if link else current
        commits.append(current)
    return commits


def test_flask_pages_answer_and_blame_names_the_commits_git_blame_names(
    histories, git, hosted_repo, client
):
    repo = hosted_repo("alice", "flask")
    push(git, histories["flask"], repo, *ALL_REFS)
    tags = sorted(local_refs(git, histories["flask"]))
    old, new = "2.3.0", "3.0.0"
    assert f"refs/tags/{old}" in tags and f"refs/tags/{new}" in tags
    for page in [
        "/alice/flask",
        "/alice/flask/tree/main/src/flask",
        "/alice/flask/tree/main/docs/patterns",
        "/alice/flask/blob/main/src/flask/app.py",
        "/alice/flask/commits/main",
        "/alice/flask/commits/main?page=20",
        "/alice/flask/commits/main/src/flask/json",
        "/alice/flask/commit/main",
        f"/alice/flask/compare/{old}...{new}",
        "/alice/flask/branches",
        "/alice/flask/tags",
    ]:
        assert client.get(page).status_code == 200, page
    main = git.run("rev-parse", "main", cwd=histories["flask"]).stdout.strip()
    for path in FLASK_BLAMED:
        answer = client.get(f"/alice/flask/blame/main/{path}")
        assert answer.status_code == 200, path
        expected = git_blame(git, histories["flask"], main, path)
        assert blamed_on_page(answer.get_data(as_text=True)) == expected, path


def test_dulwich_blame_names_the_commits_git_blame_names(histories, git):
    main = git.run("rev-parse", "main", cwd=histories["dulwich"]).stdout.strip()
    with RepoReader(histories["dulwich"]) as reader:
        for path in DULWICH_BLAMED:
            got = [sha for sha, _line in reader.blame(main, path)]
            assert got == git_blame(git, histories["dulwich"], main, path), path


@pytest.mark.parametrize(
    "name, pairs",
    [
        ("flask", [("2.3.0", "3.0.0"), ("3.0.0", "2.3.0"), ("1.0", "main"), ("0.1", "0.12")]),
        ("dulwich", [("dulwich-0.21.0", "dulwich-0.22.0"), ("dulwich-0.19.0", "main")]),
    ],
)
def test_compare_lists_the_commits_and_merge_base_git_does(histories, git, name, pairs, tmp_path):
    """A compare's commits (`git rev-list head ^base`, newest first) and merge base, walked
    from the commit-graph's rows, as C git answers them on real histories with merges."""
    path = tmp_path / f"{name}.git"
    git.run("clone", "-q", "--bare", "--shared", str(histories[name]), str(path), timeout=300)
    write_commit_graph(path)
    with RepoReader(path) as reader:
        for base, head in pairs:
            old, new = reader.revision(base).commit, reader.revision(head).commit
            for limit in (250, 7):
                listed = git.run("rev-list", "-n", str(limit), new, f"^{old}", cwd=path)
                got = [c.sha for c in reader.commits_between(old, new, limit)]
                assert got == listed.stdout.split(), (base, head, limit)
            expected = git.run("merge-base", old, new, cwd=path).stdout.strip()
            assert reader.merge_base(old, new) == expected, (base, head)


def test_maintenance_writes_a_commit_graph_git_verifies_and_walks_read(
    histories, git, hosted_repo, settings, client
):
    repo = hosted_repo("alice", "flask")
    push(git, histories["flask"], repo, *ALL_REFS)
    path = storage.repo_path(settings.repos_dir, repo.owner, repo.name)
    assert merge_packs(path) is not None
    graph = path / "objects" / "info" / "commit-graph"
    assert graph.exists()
    # C git reads what forge wrote, and finds every commit of the history in it.
    git.run("commit-graph", "verify", cwd=path)
    every = git.run("rev-list", "--all", cwd=path).stdout.split()
    assert len(read_commit_graph(str(graph))) == len(every)
    # Walks go through the graph now and still list what git log lists.
    for folder in ("src/flask/json", "docs/deploying", "tests"):
        page = client.get(f"/alice/flask/commits/main/{folder}").get_data(as_text=True)
        listed = re.findall(r'href="/alice/flask/commit/([0-9a-f]{40})"', page)
        expected = git.run("log", "--format=%H", "-n", "50", "main", "--", folder, cwd=path)
        assert list(dict.fromkeys(listed)) == expected.stdout.split(), folder


def test_maintenance_rewrites_the_graph_once_it_lacks_more_commits_than_its_slack(
    histories, git, hosted_repo, settings, tmp_path
):
    """Rewriting git.git's graph after every push took most of the maintenance jobs' CPU
    under load: a graph lacking a few commits is kept (walks read those from their packs),
    and one lacking more than the slack is rewritten whole, which C git verifies."""
    repo = hosted_repo("alice", "flask")
    push(git, histories["flask"], repo, *ALL_REFS)
    path = storage.repo_path(settings.repos_dir, repo.owner, repo.name)
    assert write_commit_graph(path) is not None
    graph = path / "objects" / "info" / "commit-graph"
    first = loaded_graph(path)
    assert first is loaded_graph(path)  # parsed once, shared by every reader
    work = tmp_path / "work"
    git.run("clone", "-q", str(histories["flask"]), str(work), timeout=300)
    for number in range(3):
        git.commit(work, {"NOTES.txt": f"{number}\n"}, f"note {number}")
    push(git, work, repo, "HEAD:refs/heads/notes")
    every = git.run("rev-list", "--all", cwd=path).stdout.split()
    assert len(read_commit_graph(str(graph))) == len(every) - 3
    assert write_commit_graph(path, slack=3) is None  # three missing: kept
    assert loaded_graph(path) is first
    assert write_commit_graph(path, slack=2) == len(every)  # a fourth would be too many
    git.run("commit-graph", "verify", cwd=path)
    assert loaded_graph(path) is not first and len(loaded_graph(path)) == len(every)


def test_the_commit_graph_grows_with_a_push_and_git_still_verifies_it(
    histories, git, hosted_repo, settings, tmp_path
):
    """A push's new commits (here a merge of a release into main) join the graph, which is
    rewritten from the old graph plus the new commits, and C git still checks every entry."""
    repo = hosted_repo("alice", "flask")
    push(git, histories["flask"], repo, *ALL_REFS)
    path = storage.repo_path(settings.repos_dir, repo.owner, repo.name)
    assert write_commit_graph(path) is not None
    assert write_commit_graph(path) is None  # nothing new: the graph on disk is kept
    work = tmp_path / "work.git"
    git.run("clone", "-q", "--bare", str(histories["flask"]), str(work), timeout=300)
    release = git.run("rev-list", "-n", "1", "2.0.0", cwd=work).stdout.strip()
    merge = git.run(
        "commit-tree", "main^{tree}", "-p", "main", "-p", release, "-m", "Merge 2.0.0", cwd=work
    ).stdout.strip()
    git.run("update-ref", "refs/heads/merged", merge, cwd=work)
    push(git, work, repo, "refs/heads/merged:refs/heads/merged")
    every = git.run("rev-list", "--all", cwd=path).stdout.split()
    assert write_commit_graph(path) == len(every)
    git.run("commit-graph", "verify", cwd=path)
    graph = read_commit_graph(str(path / "objects" / "info" / "commit-graph"))
    assert graph.get_entry_by_oid(merge.encode()).parents == [
        git.run("rev-parse", "main", cwd=work).stdout.strip().encode(),
        release.encode(),
    ]
