"""Reading many refs at once (`forge.git.refs.ref_values`), checked against C git's own
listing of refs that are packed, loose, nested, deleted, symbolic and being written."""

from __future__ import annotations

from dulwich.repo import Repo

from forge.git.refs import ZERO, current_value, ref_values


def git_listing(git, path, base: str) -> dict[bytes, bytes]:
    listed = git.run("for-each-ref", "--format=%(objectname) %(refname)", base, cwd=path)
    prefix = base + "/"
    return {
        name.removeprefix(prefix).encode(): sha.encode()
        for sha, name in (line.split(" ") for line in listed.stdout.splitlines())
    }


def test_refs_read_at_once_are_the_refs_git_lists(git, tmp_path):
    work = git.init(tmp_path / "work")
    first = git.head(work)
    for name in ("old", "feature/deep/x", "gone"):
        git.run("branch", name, cwd=work)
    git.run("tag", "-a", "-m", "one", "v1", cwd=work)
    git.run("pack-refs", "--all", cwd=work)  # all of them in packed-refs
    second = git.commit(work, {"README.md": "# two\n"}, "two")
    git.run("branch", "-f", "old", second, cwd=work)  # loose now, newer than its packed line
    git.run("branch", "new/loose", cwd=work)
    git.run("branch", "-D", "gone", cwd=work)  # deleted from packed-refs
    git.run("tag", "v2", cwd=work)
    repo = Repo(str(work))
    for base in ("refs/heads", "refs/tags"):
        assert ref_values(repo, base.encode()) == git_listing(git, work, base), base
    assert ref_values(repo, b"refs/heads")[b"old"] == second.encode()
    assert b"gone" not in ref_values(repo, b"refs/heads")
    # One ref at a time, as ref updates read it: loose, packed, deleted, never there.
    for name in ("refs/heads/old", "refs/heads/feature/deep/x", "refs/tags/v1", "refs/tags/v2"):
        assert current_value(repo, name) == git.run("rev-parse", name, cwd=work).stdout.strip()
    assert current_value(repo, "refs/heads/gone") == ZERO
    assert current_value(repo, "refs/heads/never") == ZERO

    # A ref being written has its lock file beside it until the rename: the value stays.
    (work / ".git" / "refs" / "heads" / "old.lock").write_text(first + "\n")
    assert ref_values(repo, b"refs/heads") == git_listing(git, work, "refs/heads")
    # A symbolic ref among the branches is followed, as dulwich follows it.
    git.run("symbolic-ref", "refs/heads/alias", "refs/heads/old", cwd=work)
    assert ref_values(repo, b"refs/heads")[b"alias"] == second.encode()
    assert current_value(repo, "refs/heads/alias") == second
