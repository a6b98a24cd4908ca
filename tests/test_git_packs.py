"""Pack maintenance and the stored-pack clone: pushes add packs, a real rq worker merges
them, and a clone is served by streaming the stored packs: a single pack as it is, several
(and loose objects) merged on the fly."""

import os
import shutil
import subprocess

import requests

from forge.git.maintenance import merge_packs
from forge.git.revindex import ReverseIndex
from forge.worker import run_worker


def pack_files(settings, owner="alice", name="project"):
    return sorted((settings.repos_dir / owner / f"{name}.git" / "objects" / "pack").glob("*.pack"))


def assert_sound(bare, packs):
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=bare, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    for pack in packs:
        verify = subprocess.run(
            ["git", "verify-pack", str(pack.with_suffix(".idx"))], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr


def test_the_worker_merges_pushes_packs_geometrically(git, hosted_repo, tmp_path, settings):
    """After each push the worker merges what is due, as git's `repack --geometric=2`: small
    packs stay until there are eight, which are merged with each other; they join the big
    pack once together they weigh half of it. A one-line push never copies the repository."""
    repo = hosted_repo()
    bare = settings.repos_dir / "alice" / "project.git"
    big = os.urandom(100_000).hex()  # 200 kB that does not compress: the big pack
    work = git.init(tmp_path / "work", {"big.txt": big})
    git.run("push", repo.push_url, "main", cwd=work)

    def push_small(count, start=0):
        for i in range(start, start + count):
            git.commit(work, {"small.txt": f"edit {i}\n"}, f"edit {i}")
            git.run("tag", f"v{i}", cwd=work)
            git.run("push", repo.push_url, "main", f"v{i}", cwd=work)
        run_worker(settings.redis_url, ["default"], burst=True)

    push_small(3)
    assert len(pack_files(settings)) == 4  # nothing due: three small packs
    biggest = max(pack_files(settings), key=lambda pack: pack.stat().st_size)
    push_small(5, start=3)
    packs = pack_files(settings)
    assert len(packs) == 2 and biggest in packs  # the eight small ones merged, the big kept
    assert_sound(bare, packs)

    git.commit(work, {"second.txt": os.urandom(60_000).hex()}, "as big as half")
    git.run("push", repo.push_url, "main", cwd=work)
    run_worker(settings.redis_url, ["default"], burst=True)
    packs = pack_files(settings)
    assert len(packs) == 1  # everything in one pack
    assert_sound(bare, packs)
    clone = tmp_path / "clone"
    git.run("clone", "-q", repo.url, str(clone))
    assert git.head(clone) == git.head(work)
    assert (clone / "big.txt").read_text() == big


def test_clone_of_a_single_pack_repository_streams_the_pack(git, hosted_repo, tmp_path, settings):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    for i in range(5):
        git.commit(work, {f"f{i}.txt": f"{i}\n"}, f"commit {i}")
        git.run("push", repo.push_url, "main", cwd=work)
    git.run("tag", "-a", "v1", "-m", "one", cwd=work)
    git.run("push", repo.push_url, "v1", cwd=work)
    merge_packs(settings.repos_dir / "alice" / "project.git")

    clone = tmp_path / "clone"
    result = git.run("clone", "--progress", repo.url, str(clone))
    assert "remote: Sending the stored packs" in result.stderr
    assert " as it is." in result.stderr
    assert git.head(clone) == git.head(work)
    assert git.run("fsck", "--strict", cwd=clone).returncode == 0
    assert "v1" in git.run("tag", cwd=clone).stdout

    # A fetch of one branch, or a shallow clone, is negotiated object by object instead.
    shallow = git.run("clone", "--progress", "--depth", "1", repo.url, str(tmp_path / "s"))
    assert "Sending the stored packs" not in shallow.stderr


def test_clone_between_pushes_and_maintenance_streams_the_packs_merged(
    git, hosted_repo, tmp_path, settings
):
    """Four pushes' packs (later ones completed with copies of bases the repository had,
    so objects are stored twice) and loose objects, one of them a branch's commit: the clone
    gets one pack with every object once, which git checks strictly (duplicates included),
    and every branch and tag, as a clone after maintenance would."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"a.txt": "base\n" * 200})
    git.run("push", repo.push_url, "main", cwd=work)
    for i in range(3):
        git.commit(work, {"a.txt": "base\n" * 200 + f"edit {i}\n"}, f"edit {i}")
        git.run("tag", f"v{i}", cwd=work)
        git.run("push", repo.push_url, "main", f"v{i}", cwd=work)
    bare = settings.repos_dir / "alice" / "project.git"
    assert len(pack_files(settings)) == 4

    # A commit written loose on the server (as a merge made there is), on a branch of its own.
    def in_bare(*args, stdin=None):
        done = subprocess.run(
            ["git", *args], cwd=bare, input=stdin, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    blob = in_bare("hash-object", "-w", "--stdin", stdin="written on the server\n")
    tree = in_bare("mktree", stdin=f"100644 blob {blob}\tserver.txt\n")
    commit = in_bare(
        "-c", "user.name=S", "-c", "user.email=s@example.org", "commit-tree", tree, "-m", "loose"
    )
    in_bare("update-ref", "refs/heads/loose", commit)
    assert list((bare / "objects").glob("??/*"))

    clone = tmp_path / "clone"
    result = git.run(
        "-c", "transfer.fsckObjects=true", "clone", "--progress", "--mirror", repo.url, str(clone)
    )
    assert "remote: Sending the stored packs" in result.stderr
    assert " merged." in result.stderr
    assert git.run("fsck", "--strict", cwd=clone).returncode == 0
    assert git.run("for-each-ref", cwd=clone).stdout == in_bare("for-each-ref") + "\n"
    assert git.head(clone, "loose") == commit
    # Every object the repository holds went, once: the clone's one pack has them all.
    [pack] = (clone / "objects" / "pack").glob("*.idx")
    with open(pack, "rb") as index:
        listed = subprocess.run(
            ["git", "show-index"], stdin=index, capture_output=True, text=True, check=True
        ).stdout.split("\n")
    shas = [line.split()[1] for line in listed if line]
    assert len(shas) == len(set(shas))
    held = in_bare("cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert set(shas) == set(held)


def test_merge_is_a_no_op_for_a_single_pack_and_keeps_every_object(
    git, hosted_repo, tmp_path, settings
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)
    bare = settings.repos_dir / "alice" / "project.git"
    before = pack_files(settings)
    result = merge_packs(bare)
    assert result.packs_merged == 0 and pack_files(settings) == before


def test_incremental_fetch_across_merges_sends_exactly_what_is_missing(
    git, hosted_repo, tmp_path, settings
):
    """Fetches walk wants and haves by date and reuse stored deltas; the result must be a
    complete, valid history whatever the shape (branches, merges, several packs)."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"big.txt": "".join(f"line {i}\n" for i in range(400))})
    git.run("push", repo.push_url, "main", cwd=work)
    clone = tmp_path / "clone"
    git.run("clone", repo.url, str(clone))
    merge_packs(settings.repos_dir / "alice" / "project.git")

    git.run("checkout", "-q", "-b", "side", cwd=work)
    for i in range(3):
        git.commit(work, {"side.txt": f"side {i}\n"}, f"side {i}")
    git.run("checkout", "-q", "main", cwd=work)
    for i in range(3):
        lines = "".join(f"line {j}{'!' if j == i else ''}\n" for j in range(400))
        git.commit(work, {"big.txt": lines}, f"main {i}")
    git.run("merge", "-q", "--no-edit", "side", cwd=work)
    git.run("push", repo.push_url, "main", "side", cwd=work)

    fetched = git.run("fetch", "--progress", "origin", cwd=clone)
    assert "side" in fetched.stderr
    assert git.head(clone, "origin/main") == git.head(work)
    assert git.run("fsck", "--strict", cwd=clone).returncode == 0
    count = git.run("rev-list", "--count", "origin/main", cwd=clone).stdout.strip()
    assert count == git.run("rev-list", "--count", "main", cwd=work).stdout.strip()

    # Nothing new: a second fetch transfers nothing and changes nothing.
    again = git.run("fetch", "origin", cwd=clone)
    assert again.stderr == "" and git.head(clone, "origin/main") == git.head(work)


def git_made_rev(pack, tmp_path):
    """The .rev file C git writes for a copy of `pack`."""
    copy = tmp_path / "git-rev" / "copy.pack"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(pack, copy)
    subprocess.run(["git", "index-pack", "--rev-index", str(copy)], check=True, capture_output=True)
    return copy.with_suffix(".rev").read_bytes()


def entries_by_git(pack):
    """{offset: (sha, offset where the entry ends)} as `git verify-pack -v` lists them."""
    listing = subprocess.run(
        ["git", "verify-pack", "-v", str(pack.with_suffix(".idx"))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    entries = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 5 and len(fields[0]) == 40:
            size_in_pack, offset = int(fields[3]), int(fields[4])
            entries[offset] = (fields[0], offset + size_in_pack)
    return entries


def test_merged_packs_get_the_reverse_index_c_git_would_write(git, hosted_repo, tmp_path, settings):
    """Fetches find where entries end and which object an offset delta names through the
    .rev file the merge writes; C git reads the same file, so it must be git's, byte for byte."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"a.txt": "base\n" * 300})
    git.run("push", repo.push_url, "main", cwd=work)
    for i in range(4):
        git.commit(work, {"a.txt": "base\n" * 300 + f"edit {i}\n", f"n{i}.txt": "x"}, f"e{i}")
        git.run("push", repo.push_url, "main", cwd=work)
    merge_packs(settings.repos_dir / "alice" / "project.git")

    [pack] = pack_files(settings)
    assert pack.with_suffix(".rev").read_bytes() == git_made_rev(pack, tmp_path)
    reverse = ReverseIndex(pack.with_suffix(".idx"))
    size = pack.stat().st_size
    for offset, (sha, end) in entries_by_git(pack).items():
        assert reverse.name_at(offset).hex() == sha
        assert reverse.end_of(offset, size) == end


def test_a_pack_without_or_with_a_damaged_reverse_index_is_read_the_same(
    git, hosted_repo, tmp_path, settings
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"a.txt": "".join(f"line {i}\n" for i in range(300))})
    git.run("push", repo.push_url, "main", cwd=work)
    clone = tmp_path / "clone"
    git.run("clone", repo.url, str(clone))
    [pack] = pack_files(settings)  # as dulwich received it: no .rev
    assert not pack.with_suffix(".rev").exists()
    expected = entries_by_git(pack)
    sorted_in_memory = ReverseIndex(pack.with_suffix(".idx"))

    # The no-op merge of a single pack made elsewhere gives it git's .rev.
    merge_packs(settings.repos_dir / "alice" / "project.git")
    assert pack.with_suffix(".rev").read_bytes() == git_made_rev(pack, tmp_path)

    # A .rev that does not fit its pack is ignored, not trusted.
    rev = pack.with_suffix(".rev")
    damaged = bytearray(rev.read_bytes())
    damaged[12:16], damaged[16:20] = damaged[16:20], damaged[12:16]
    rev.write_bytes(bytes(damaged))
    for reverse in (sorted_in_memory, ReverseIndex(pack.with_suffix(".idx"))):
        for offset, (sha, end) in expected.items():
            assert reverse.name_at(offset).hex() == sha
            assert reverse.end_of(offset, pack.stat().st_size) == end

    for i in range(3):
        git.commit(work, {"a.txt": "".join(f"line {j}{i}\n" for j in range(300))}, f"c{i}")
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("fetch", "origin", cwd=clone)
    assert git.head(clone, "origin/main") == git.head(work)
    assert git.run("fsck", "--strict", cwd=clone).returncode == 0


def upload_pack_answer(repo, wants: list[str]) -> bytes:
    """What a stateless upload-pack request wanting `wants` (nothing had) is answered."""
    caps = b" ofs-delta side-band-64k thin-pack"
    lines = [
        b"want %s%s\n" % (sha.encode(), caps if i == 0 else b"") for i, sha in enumerate(wants)
    ]
    body = b"".join(b"%04x" % (len(line) + 4) + line for line in lines) + b"00000009done\n"
    kind = {"Content-Type": "application/x-git-upload-pack-request"}
    answer = requests.post(f"{repo.url}/git-upload-pack", data=body, timeout=30, headers=kind)
    assert answer.status_code == 200
    assert b"ERR" not in answer.content[:200] and b"PACK" in answer.content
    return answer.content


def shown_tips(repo) -> dict[str, str]:
    shown = requests.get(
        f"{repo.url}/info/refs", params={"service": "git-upload-pack"}, timeout=30
    ).content
    tips = {}
    for line in shown.split(b"\n"):
        line = line.split(b"\x00")[0]
        if b" refs/" in line and not line.endswith(b"^{}"):
            sha, name = line[-40 - 1 - len(line.split(b" ")[-1]) :].split(b" ")
            tips[name.decode()] = sha[-40:].decode()
    return tips


def test_a_clone_racing_pushes_is_still_streamed_from_the_stored_packs(git, hosted_repo, tmp_path):
    """A clone that read the refs before pushes moved two of its branches wants tips that are
    no longer every branch's: still a clone, streamed from the stored packs (no object walk).
    A fetch of one branch of ten, nothing had, is negotiated instead (only its objects)."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# one\n"})
    branches = [f"b{i}" for i in range(10)]
    for branch in branches:
        git.run("checkout", "-q", "-b", branch, "main", cwd=work)
        git.commit(work, {f"{branch}.txt": f"{branch}\n"}, f"on {branch}")
    git.run("push", "-q", repo.push_url, *branches, cwd=work)
    shown = shown_tips(repo)
    assert len(set(shown.values())) == 10
    for branch in branches[:2]:
        git.run("checkout", "-q", branch, cwd=work)
        git.commit(work, {"README.md": f"# {branch}\n"}, f"moves {branch}")
        git.run("push", "-q", repo.push_url, branch, cwd=work)
    assert b"Sending the stored packs" in upload_pack_answer(repo, sorted(set(shown.values())))
    answer = upload_pack_answer(repo, [shown["refs/heads/b5"]])
    assert b"Sending the stored packs" not in answer


def test_maintenance_folds_many_loose_refs_into_packed_refs(git, hosted_repo, tmp_path, settings):
    """Forty branches and an annotated tag pushed: the worker's maintenance packs them (every
    page and fetch read one file per ref before), each ref keeps its value and the tag its
    peeled commit; a push moving or deleting a packed branch still does, and C git reads it."""
    repo = hosted_repo()
    bare = settings.repos_dir / "alice" / "project.git"
    work = git.init(tmp_path / "work", {"README.md": "# refs\n"})
    git.run("tag", "-a", "v1", "-m", "one", cwd=work)
    branches = [f"topic/{i}" for i in range(40)]
    git.run("push", "-q", repo.push_url, "main", "v1", *(f"HEAD:refs/heads/{b}" for b in branches),
            cwd=work)  # fmt: skip

    def refs_by_git() -> str:
        return subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)"],
            cwd=bare, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    before = refs_by_git()
    run_worker(settings.redis_url, ["default"], burst=True)
    assert (bare / "packed-refs").read_text().startswith("# pack-refs with: peeled\n")
    assert [p for p in (bare / "refs").rglob("*") if p.is_file()] == []
    assert refs_by_git() == before

    git.commit(work, {"README.md": "# moved\n"}, "moves topic/1")
    git.run("push", "-q", repo.push_url, "HEAD:refs/heads/topic/1", ":refs/heads/topic/2",
            cwd=work)  # fmt: skip
    clone = tmp_path / "clone"
    git.run("clone", "-q", "--mirror", repo.url, str(clone))
    mirrored = git.run("for-each-ref", "--format=%(refname) %(objectname)", cwd=clone).stdout
    assert f"refs/heads/topic/1 {git.head(work)}\n" in mirrored
    assert "refs/heads/topic/2 " not in mirrored
    assert mirrored.count("refs/heads/topic/") == 39
