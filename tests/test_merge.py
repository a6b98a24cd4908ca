"""The merge engine for change requests, checked against the real git.

Histories are built with the `git` command line; the engine runs on them through dulwich;
git then says whether the result is sound (`git fsck --strict`) and what it would have made
itself (`git merge --no-ff`, `git merge-tree`, `git rebase`).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from dulwich.repo import Repo

from forge.git import merge
from forge.git.merge import Identity, MergeConflict

ALICE = Identity("Alice Merger", "alice@example.org", time=1_700_000_000, tz=3600)
FORGE = Identity("Forge", "forge@example.org", time=1_700_000_100, tz=0)
BOB = "Bob Builder <bob@example.org>"
CAROL = "Carol Coder <carol@example.org>"


@dataclass
class Exec:
    """An executable file."""

    text: str


@dataclass
class Link:
    """A symbolic link."""

    target: str


@dataclass
class Gitlink:
    """A submodule pinned at a commit."""

    sha: str


def numbered(n: int, **changes: str) -> str:
    """A text of n numbered lines, with some lines replaced (line3="x")."""
    lines = [changes.get(f"line{i}", f"line {i}") for i in range(1, n + 1)]
    return "".join(line + "\n" for line in lines)


class History:
    """A repository whose branches are built with the real git."""

    def __init__(self, git, path: Path):
        self.git = git
        self.path = path
        git.init(path, {"README.md": "# project\n"}, message="start")
        self.worktrees = 0

    def run(self, *args, check=True) -> str:
        return self.git.run(*args, cwd=self.path, check=check).stdout.strip()

    def commit(self, branch: str, files: dict, message: str, start=None, author=None) -> str:
        """Commit `files` on `branch` (made from `start` if given); None deletes a path."""
        if start is not None:
            self.run("checkout", "-q", "-b", branch, start)
        else:
            self.run("checkout", "-q", branch)
        removed, written, gitlinks = [], [], []
        for name, content in files.items():
            target = self.path / name
            if content is None:
                removed.append(name)
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.exists():
                    shutil.rmtree(target)
                continue
            if isinstance(content, Gitlink):
                gitlinks.append(f"160000,{content.sha},{name}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.is_file():
                target.unlink()
            if isinstance(content, Link):
                os.symlink(content.target, target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                text = content.text if isinstance(content, Exec) else content
                target.write_text(text)
                target.chmod(0o755 if isinstance(content, Exec) else 0o644)
            written.append(name)
        if removed:
            self.run("rm", "-rq", "--cached", "--", *removed)
        if written:
            self.run("add", "--", *written)
        for gitlink in gitlinks:
            self.run("update-index", "--add", "--cacheinfo", gitlink)
        extra = [f"--author={author}"] if author else []
        self.run("commit", "-q", "--allow-empty", "-m", message, *extra)
        return self.head()

    def head(self, rev="HEAD") -> str:
        return self.run("rev-parse", rev)

    def tree(self, rev: str) -> str:
        return self.run("rev-parse", f"{rev}^{{tree}}")

    def repo(self) -> Repo:
        return Repo(str(self.path))

    def in_worktree(self, start: str, *commands: tuple[str, ...]) -> str:
        """Run git commands in a throwaway worktree at `start`; returns its HEAD."""
        self.worktrees += 1
        place = self.path.parent / f"worktree-{self.worktrees}"
        self.run("worktree", "add", "-q", "--detach", str(place), start)
        try:
            for command in commands:
                self.git.run(*command, cwd=place)
            return self.git.run("rev-parse", "HEAD", cwd=place).stdout.strip()
        finally:
            self.run("worktree", "remove", "--force", str(place))

    def git_merge_tree(self, ours: str, theirs: str) -> str:
        """The tree `git merge --no-ff` makes."""
        merged = self.in_worktree(ours, ("merge", "--no-ff", "--no-edit", "-q", theirs))
        return self.tree(merged)

    def git_conflicts(self, ours: str, theirs: str) -> list[str]:
        """The paths `git merge-tree` reports conflicted (a copy git moves aside to
        `path~side` counts as `path`)."""
        result = self.git.run(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs,
            cwd=self.path, check=False,
        )  # fmt: skip
        assert result.returncode in (0, 1), result.stderr
        return sorted({line.split("~")[0] for line in result.stdout.splitlines()[1:] if line})

    def fsck(self, sha: str) -> None:
        """Point a ref at `sha` and have git check every object, strictly."""
        self.run("update-ref", f"refs/checked/{sha}", sha)
        result = self.git.run("fsck", "--strict", "--no-progress", cwd=self.path, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "error" not in result.stderr and "warning" not in result.stderr, result.stderr

    def parents(self, sha: str) -> list[str]:
        return self.run("rev-list", "--parents", "-n", "1", sha).split()[1:]

    def field(self, sha: str, fmt: str) -> str:
        return self.run("log", "-1", f"--format={fmt}", sha)

    def object_count(self) -> int:
        counts = dict(line.split(": ") for line in self.run("count-objects", "-v").splitlines())
        return int(counts["count"]) + int(counts["in-pack"])


@pytest.fixture
def history(git, tmp_path) -> History:
    return History(git, tmp_path / "project")


def test_merge_base_and_commits_between_say_what_a_change_consists_of(history):
    start = history.head()
    f1 = history.commit("feature", {"f": "1\n"}, "f1", start=start)
    s1 = history.commit("side", {"s": "1\n"}, "s1", start=f1)
    f2 = history.commit("feature", {"f": "2\n"}, "f2")
    history.run("merge", "-q", "--no-ff", "--no-edit", "side")
    joined = history.head()
    f3 = history.commit("feature", {"f": "3\n"}, "f3")
    main = history.commit("main", {"m": "1\n"}, "m1")

    with history.repo() as repo:
        assert merge.merge_base(repo, main, f3) == history.run("merge-base", main, f3) == start
        assert merge.commits_between(repo, start, f2) == [f1, f2]
        commits = merge.commits_between(repo, main, f3)

    assert sorted(commits) == sorted(history.run("rev-list", f"{main}..{f3}").split())
    assert set(commits) == {f1, s1, f2, joined, f3}
    for position, sha in enumerate(commits):  # parents always come first
        assert all(p not in commits[position:] for p in history.parents(sha))
    assert commits[0] == f1 and commits[-1] == f3


def test_unrelated_histories_have_no_merge_base(history):
    main = history.head()
    history.run("checkout", "-q", "--orphan", "other")
    history.run("rm", "-rqf", ".")
    (history.path / "x").write_text("x\n")
    history.run("add", "x")
    history.run("commit", "-q", "-m", "unrelated")
    other = history.head()
    with history.repo() as repo:
        assert merge.merge_base(repo, main, other) is None
        assert merge.commits_between(repo, main, other) == [other]


@pytest.fixture
def diverged(history):
    """main and feature changed many kinds of things from a shared start, without conflict."""
    sub_v1 = history.head()
    start = history.commit(
        "main",
        {
            "src/app.py": numbered(30),
            "src/deep/nested/data.txt": numbered(10),
            "docs/guide.md": "# guide\n",
            "script.sh": "echo hi\n",
            "latest": Link("README.md"),
            "old.txt": "moves away\n",
            "vendor/lib": Gitlink(sub_v1),
            "assets/logo.bin": b"\x00\x01logo",
            "unterminated": "a\nb\nc\nd\ne\nf\ng",
            "emptied/one": "1\n",
            "emptied/two": "2\n",
            "becomes-folder": "a file\n",
        },
        "the project",
    )
    sub_v2 = history.commit("main", {"notes.txt": "a commit for the submodule\n"}, "sub v2")
    main = history.commit(
        "main",
        {
            "src/app.py": numbered(30, line2="main changed the top"),
            "script.sh": Exec("echo hi\n"),
            "vendor/lib": Gitlink(sub_v2),
            "src/deep/nested/main.txt": "main's file\n",
            "assets/logo.bin": b"\x00\x02logo from main",
            "unterminated": "A\nb\nc\nd\ne\nf\ng",
            "emptied/one": None,
            "becomes-folder": None,
            "becomes-folder/inside": "now a folder\n",
        },
        "main moves on",
    )
    feature = history.commit(
        "feature",
        {
            "src/app.py": numbered(30, line28="feature changed the bottom"),
            "script.sh": "echo hello\n",
            "latest": Link("docs/guide.md"),
            "new/dir/tree/file.txt": "deep new file\n",
            "docs/guide.md": None,
            "old.txt": None,
            "renamed.txt": "moves away\n",
            "src/deep/nested/data.txt": numbered(10, line5="feature"),
            "image.bin": b"\x00\xff\x10binary",
            "unterminated": "a\nb\nc\nd\ne\nf\nG",
            "emptied/two": None,
        },
        "feature work",
        start=start,
    )
    return history, main, feature


def test_merge_commit_has_the_tree_git_merge_makes(diverged):
    history, main, feature = diverged
    with history.repo() as repo:
        assert merge.check_mergeable(repo, main, feature) == []
        sha = merge.merge_commit(repo, main, feature, ALICE, FORGE, "Merge change #1")

    history.fsck(sha)
    assert history.tree(sha) == history.git_merge_tree(main, feature)
    assert history.parents(sha) == [main, feature]
    assert history.field(sha, "%an <%ae> %at %ai") == (
        "Alice Merger <alice@example.org> 1700000000 2023-11-14 23:13:20 +0100"
    )
    assert history.field(sha, "%cn <%ce> %ct") == "Forge <forge@example.org> 1700000100"
    assert history.field(sha, "%B") == "Merge change #1"
    assert history.head("main") == main, "no ref moves"
    # Both sides' changes to one file, and the executable bit from one side with the
    # content from the other.
    assert history.run("show", f"{sha}:src/app.py") == numbered(
        30, line2="main changed the top", line28="feature changed the bottom"
    ).strip("\n")
    assert history.run("ls-tree", sha, "script.sh").startswith("100755 blob")
    assert history.run("show", f"{sha}:script.sh") == "echo hello"
    assert history.run("show", f"{sha}:unterminated") == "A\nb\nc\nd\ne\nf\nG"
    assert "emptied" not in history.run("ls-tree", "--name-only", sha)


def test_squash_commit_is_one_commit_with_the_merged_tree(diverged):
    history, main, feature = diverged
    with history.repo() as repo:
        merged = merge.merge_commit(repo, main, feature, ALICE, FORGE, "merge")
        squashed = merge.squash_commit(repo, main, feature, ALICE, FORGE, "Feature (#1)\n")
    history.fsck(squashed)
    assert history.parents(squashed) == [main]
    assert history.tree(squashed) == history.tree(merged)
    assert history.field(squashed, "%B") == "Feature (#1)"


def test_merge_commit_is_made_even_when_head_already_contains_base(history):
    main = history.head()
    feature = history.commit("feature", {"f": "feature\n"}, "feature", start=main)
    with history.repo() as repo:
        sha = merge.merge_commit(repo, main, feature, ALICE, FORGE, "Merge")
    history.fsck(sha)
    assert history.parents(sha) == [main, feature]
    assert history.tree(sha) == history.tree(feature) == history.git_merge_tree(main, feature)


def test_checking_and_merging_write_nothing_until_a_commit_is_made(diverged):
    history, main, feature = diverged
    before = history.object_count()
    with history.repo() as repo:
        assert merge.check_mergeable(repo, main, feature) == []
    assert history.object_count() == before


def test_rebase_replays_each_commit_as_git_rebase_does(history):
    start = history.commit("main", {"f": numbered(10), "g": "g\n"}, "start")
    main = history.commit("main", {"g": "g from main\n", "f": numbered(10, line1="main")}, "m")
    history.commit("feature", {"h": "h\n"}, "add h", start=start, author=BOB)
    history.commit("feature", {"g": "g from main\n"}, "same as main", author=CAROL)
    history.commit("feature", {"f": numbered(10, line9="feature")}, "edit f", author=CAROL)
    feature = history.commit("feature", {"h": None, "k/l.txt": "l\n"}, "h to k/l", author=BOB)

    with history.repo() as repo:
        tip = merge.rebase_commits(repo, main, feature, FORGE)
    history.fsck(tip)
    rebased_by_git = history.in_worktree(feature, ("rebase", "-q", main))

    ours = history.run("rev-list", "--reverse", "--format=%T %an|%ae|%at|%s", f"{main}..{tip}")
    theirs = history.run(
        "rev-list", "--reverse", "--format=%T %an|%ae|%at|%s", f"{main}..{rebased_by_git}"
    )
    strip = [line for line in ours.splitlines() if not line.startswith("commit ")]
    assert strip == [line for line in theirs.splitlines() if not line.startswith("commit ")]
    assert [line.split(" ", 1)[1].split("|")[3] for line in strip] == [
        "add h",
        "edit f",
        "h to k/l",
    ], "the commit whose change main already has is dropped"
    assert "Bob Builder|bob@example.org" in strip[0]
    assert history.tree(tip) == history.git_merge_tree(main, feature)
    for sha in history.run("rev-list", f"{main}..{tip}").split():
        assert len(history.parents(sha)) == 1
        assert history.field(sha, "%cn <%ce> %ct") == "Forge <forge@example.org> 1700000100"
    assert history.run("rev-list", "--max-parents=0", "--count", tip) == "1"
    assert history.run("merge-base", "--is-ancestor", main, tip, check=True) == ""


def test_rebase_leaves_merges_inside_the_change_out(history):
    start = history.head()
    main = history.commit("main", {"m": "m\n"}, "main")
    history.commit("feature", {"f": "f\n"}, "f", start=start)
    history.commit("side", {"s": "s\n"}, "s", start=start)
    history.run("checkout", "-q", "feature")
    history.run("merge", "-q", "--no-ff", "--no-edit", "side")
    feature = history.commit("feature", {"f": "f2\n"}, "f2")

    with history.repo() as repo:
        tip = merge.rebase_commits(repo, main, feature, FORGE)
    history.fsck(tip)
    assert history.run("rev-list", "--min-parents=2", "--count", f"{main}..{tip}") == "0"
    assert history.run("rev-list", "--count", f"{main}..{tip}") == "3"
    assert history.tree(tip) == history.git_merge_tree(main, feature)


def test_rebase_of_a_descendant_is_a_fast_forward(history):
    main = history.head()
    feature = history.commit("feature", {"f": "f\n"}, "f", start=main)
    before = history.object_count()
    with history.repo() as repo:
        assert merge.rebase_commits(repo, main, feature, FORGE) == feature
    assert history.object_count() == before


def test_rebase_conflict_names_the_commit_and_paths(history):
    start = history.commit("main", {"f": numbered(5), "g": numbered(5)}, "start")
    main = history.commit("main", {"f": numbered(5, line1="main"), "g": "main\n"}, "m")
    history.commit("feature", {"h": "h\n"}, "fine", start=start)
    bad = history.commit("feature", {"f": numbered(5, line1="feature"), "g": None}, "clash")
    feature = history.commit("feature", {"h": "h2\n"}, "after")

    with history.repo() as repo, pytest.raises(MergeConflict) as raised:
        merge.rebase_commits(repo, main, feature, FORGE)
    assert raised.value.paths == ["f", "g"]
    assert raised.value.commit == bad
    assert bad[:12] in str(raised.value) and "f, g" in str(raised.value)


CONFLICTS = {
    "content": (
        {"f": numbered(5)},
        {"f": numbered(5, line3="main")},
        {"f": numbered(5, line3="x")},
    ),
    "adjacent lines": (
        {"f": numbered(5)},
        {"f": numbered(5, line2="main")},
        {"f": numbered(5, line3="feature")},
    ),
    "add/add": ({}, {"new.txt": "main\n"}, {"new.txt": "feature\n"}),
    "delete/modify": ({"f": "f\n"}, {"f": None}, {"f": "changed\n"}),
    "modify/delete": ({"f": "f\n"}, {"f": "changed\n"}, {"f": None}),
    # Edits far apart, which lines of text would merge: binary files are never merged.
    "binary": (
        {"b.bin": b"\x00\n1\n2\n3\n4\n5\n6\n7\n"},
        {"b.bin": b"\x00\none\n2\n3\n4\n5\n6\n7\n"},
        {"b.bin": b"\x00\n1\n2\n3\n4\n5\n6\nseven\n"},
    ),
    "symlink": ({"l": Link("a")}, {"l": Link("b")}, {"l": Link("c")}),
    "nested": (
        {"a/b/c/d.txt": numbered(3)},
        {"a/b/c/d.txt": numbered(3, line2="main")},
        {"a/b/c/d.txt": numbered(3, line2="feature")},
    ),
    "file/directory": ({}, {"x": "file\n"}, {"x/y": "a file in a folder\n"}),
    "added with other modes": ({}, {"s.sh": "s\n"}, {"s.sh": Exec("s\n")}),
    "file against symlink": ({"t": "text\n"}, {"t": Link("README.md")}, {"t": "edited\n"}),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_conflicts_are_found_with_their_paths(history, case):
    base, ours, theirs = CONFLICTS[case]
    start = history.commit("main", {**base, "other": "1\n"}, "base")
    main = history.commit("main", {**ours, "other": "2\n"}, "main")
    feature = history.commit("feature", {**theirs, "more": "m\n"}, "feature", start=start)
    expected = sorted(ours)
    assert history.git_conflicts(main, feature) == expected

    before = history.object_count()
    with history.repo() as repo:
        assert merge.check_mergeable(repo, main, feature) == expected
        with pytest.raises(MergeConflict) as raised:
            merge.merge_commit(repo, main, feature, ALICE, FORGE, "merge")
        assert raised.value.paths == expected
        assert expected[0] in str(raised.value)
        with pytest.raises(MergeConflict):
            merge.squash_commit(repo, main, feature, ALICE, FORGE, "squash")
    assert history.object_count() == before


def test_submodules_merge_when_one_side_moves_them_and_conflict_when_both_do(history):
    one = history.head()
    two = history.commit("main", {"x": "x\n"}, "x")
    three = history.commit("main", {"y": "y\n"}, "y")
    start = history.commit("main", {"sub": Gitlink(one)}, "add submodule")
    main = history.commit("main", {"sub": Gitlink(two)}, "main moves it")
    feature = history.commit("feature", {"f": "f\n"}, "unrelated", start=start)
    other = history.commit("other", {"sub": Gitlink(three)}, "other moves it", start=start)

    with history.repo() as repo:
        sha = merge.merge_commit(repo, main, feature, ALICE, FORGE, "merge")
        assert merge.check_mergeable(repo, main, other) == ["sub"]
    history.fsck(sha)
    assert history.tree(sha) == history.git_merge_tree(main, feature)
    assert history.git_conflicts(main, other) == ["sub"]


def test_several_conflicts_are_reported_together_and_sorted(history):
    start = history.commit("main", {"z": "z\n", "a/b": "b\n", "m": "m\n"}, "base")
    main = history.commit("main", {"z": "main\n", "a/b": "main\n", "m": "main\n"}, "main")
    feature = history.commit("feature", {"z": "f\n", "a/b": None, "m": "main\n"}, "f", start=start)
    with history.repo() as repo:
        assert merge.check_mergeable(repo, main, feature) == ["a/b", "z"]
    assert history.git_conflicts(main, feature) == ["a/b", "z"]


def test_criss_cross_history_merges_through_a_virtual_base(history):
    start = history.commit("main", {"f": numbered(30)}, "start")
    a = history.commit("main", {"f": numbered(30, line1="A")}, "A")
    b = history.commit("feature", {"f": numbered(30, line30="B")}, "B", start=start)
    history.run("checkout", "-q", "main")
    history.run("merge", "-q", "--no-edit", b)
    history.run("checkout", "-q", "feature")
    history.run("merge", "-q", "--no-edit", a)
    main = history.commit("main", {"f": numbered(30, line1="A", line30="B", line10="main")}, "m")
    feature = history.commit(
        "feature", {"f": numbered(30, line1="A", line30="B", line20="feat"), "g": "g\n"}, "f"
    )
    assert len(history.run("merge-base", "--all", main, feature).split()) == 2

    with history.repo() as repo:
        assert merge.merge_base(repo, main, feature) in (a, b)
        sha = merge.merge_commit(repo, main, feature, ALICE, FORGE, "merge")
    history.fsck(sha)
    assert history.tree(sha) == history.git_merge_tree(main, feature)


def test_interdiff_shows_what_changed_between_patch_sets_not_upstream(history):
    main1 = history.commit("main", {"f": numbered(10), "g": "g\n"}, "start")
    ps1 = history.commit("ps1", {"f": numbered(10, line2="first try"), "h": "a\n"}, "p1", main1)
    main2 = history.commit(
        "main", {"g": "g changed upstream\n", "f": numbered(10, line9="up")}, "u"
    )
    ps2 = history.commit(
        "ps2",
        {"f": numbered(10, line2="second try", line9="up"), "h": "b\n"},
        "p2",
        start=main2,
    )
    ps3 = history.commit(
        "ps3", {"f": numbered(10, line2="first try", line9="up"), "h": "a\n"}, "p3", main2
    )

    with history.repo() as repo:
        diff = merge.interdiff(repo, main1, ps1, main2, ps2)
        same = merge.interdiff(repo, main1, ps1, main2, ps3)

    assert b"diff --git a/f b/f" in diff and b"diff --git a/h b/h" in diff
    assert b"-first try\n+second try\n" in diff
    assert b"-a\n+b\n" in diff
    assert b"a/g" not in diff and b"upstream" not in diff and b"up\n" not in diff
    assert same == b"", "a pure rebase changes nothing the author wrote"


def test_interdiff_of_a_patch_set_that_adds_a_file(history):
    main1 = history.head()
    ps1 = history.commit("ps1", {"f": "a\n"}, "add f", start=main1)
    main2 = history.commit("main", {"g": "g\n"}, "upstream g")
    ps2 = history.commit("ps2", {"f": "b\n"}, "add f", start=main2)
    with history.repo() as repo:
        diff = merge.interdiff(repo, main1, ps1, main2, ps2)
    assert b"a/f" in diff and b"-a\n+b\n" in diff
    assert b"a/g" not in diff


class CountingStore:
    """The repository's object store, counting what is read from it, by type."""

    def __init__(self, store):
        self.store = store
        self.reads: Counter[bytes] = Counter()

    def __getitem__(self, sha):
        obj = self.store[sha]
        self.reads[obj.type_name] += 1
        return obj

    def __contains__(self, sha):
        return sha in self.store

    def __getattr__(self, name):
        return getattr(self.store, name)


def fast_import(git, bare: Path, branch: str, files: dict, message: str, start=None) -> str:
    """Commit `files` (None deletes) on `branch` with `git fast-import`: no work tree."""
    stream = [
        f"commit refs/heads/{branch}",
        "committer Test Author <author@example.org> 1700000000 +0000",
        f"data {len(message)}",
        message,
    ]
    if start:
        stream.append(f"from {start}")
    for name, text in files.items():
        if text is None:
            stream.append(f"D {name}")
        else:
            stream += [f"M 100644 inline {name}", f"data {len(text.encode())}", text]
    git.run("fast-import", "--quiet", cwd=bare, input="\n".join(stream) + "\n")
    return git.run("rev-parse", branch, cwd=bare).stdout.strip()


def test_a_large_tree_is_merged_opening_only_the_folders_both_sides_changed(git, tmp_path):
    bare = tmp_path / "large.git"
    git.run("init", "-q", "--bare", str(bare))
    files = {f"dir{d:02}/file{f:03}.txt": f"{d} {f}\n" for d in range(50) for f in range(100)}
    files["dir00/shared.txt"] = numbered(20)
    start = fast_import(git, bare, "main", files, "5,000 files")
    main = fast_import(
        git,
        bare,
        "main",
        {
            "dir00/file000.txt": "main\n",
            "dir49/file099.txt": "main\n",
            "dir00/shared.txt": numbered(20, line1="main"),
        },
        "main",
        start=start,
    )
    change = {f"dir{d:02}/file{f:03}.txt": f"changed {d} {f}\n" for d in (1, 2) for f in range(100)}
    change.update({f"dir03/file{f:03}.txt": None for f in range(99)})
    change["dir00/file001.txt"] = "feature\n"
    change["dir00/shared.txt"] = numbered(20, line19="feature")
    feature = fast_import(git, bare, "feature", change, "300 files", start=start)

    with Repo(str(bare)) as repo:
        repo.object_store = CountingStore(repo.object_store)
        sha = merge.merge_commit(repo, main, feature, ALICE, FORGE, "merge")
        reads = repo.object_store.reads
    git.run("update-ref", "refs/heads/merged", sha, cwd=bare)
    assert git.run("fsck", "--strict", "--no-progress", cwd=bare).stderr == ""
    by_git = git.run("merge-tree", "--write-tree", main, feature, cwd=bare).stdout.strip()
    assert git.run("rev-parse", f"{sha}^{{tree}}", cwd=bare).stdout.strip() == by_git
    # The root and dir00 on each of the three sides, and the one file both sides edited:
    # the 47 folders only one side changed, and the other 5,000 files, are never opened.
    assert reads[b"tree"] == 6, reads
    assert reads[b"blob"] == 3, reads


def test_an_identity_git_would_reject_is_refused(history):
    main = history.head()
    feature = history.commit("feature", {"f": "f\n"}, "f", start=main)
    with history.repo() as repo, pytest.raises(ValueError):
        merge.merge_commit(repo, main, feature, Identity("Eve <x>", "e@x"), FORGE, "m")
