"""The real git client against forge over smart HTTP: clone, fetch, push, and access rules."""

import io

import requests
from conftest import authed
from dulwich.repo import Repo
from sqlalchemy import select

from forge.git import smart_http
from forge.git.refs import RefUpdate, apply_updates, locked_refs, recent_tips
from forge.models import PushEvent


def test_push_then_clone_fetch_and_ls_remote(git, hosted_repo, tmp_path, database):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# project\n", "src/app.py": "print(1)\n"})
    first = git.head(work)
    pushed = git.run("push", repo.push_url, "main", cwd=work)
    assert "[new branch]      main -> main" in pushed.stderr

    clone = tmp_path / "clone"
    git.run("clone", repo.url, str(clone))
    assert (clone / "src/app.py").read_text() == "print(1)\n"
    assert git.head(clone) == first

    # An incremental fetch brings only what is new.
    second = git.commit(work, {"src/app.py": "print(2)\n"}, "second")
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("pull", "-q", "--ff-only", cwd=clone)
    assert git.head(clone) == second
    assert git.run("fsck", "--strict", cwd=clone).returncode == 0

    listing = git.run("ls-remote", repo.url).stdout
    assert f"{second}\tHEAD" in listing and f"{second}\trefs/heads/main" in listing

    with database.session() as session:
        events = session.scalars(select(PushEvent).order_by(PushEvent.id)).all()
    assert [(e.ref, e.after, e.pusher.name, e.via) for e in events] == [
        ("refs/heads/main", first, "alice", "push"),
        ("refs/heads/main", second, "alice", "push"),
    ]


def test_url_without_dot_git_works(git, hosted_repo, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url.removesuffix(".git"), "main", cwd=work)
    git.run("clone", repo.url.removesuffix(".git"), str(tmp_path / "clone"))
    assert (tmp_path / "clone" / "README.md").exists()


def test_shallow_and_partial_clones(git, hosted_repo, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"a.txt": "1\n"})
    for i in range(2, 6):
        git.commit(work, {"a.txt": f"{i}\n", f"big{i}.bin": "x" * 5000}, f"commit {i}")
    git.run("push", repo.push_url, "main", cwd=work)

    shallow = tmp_path / "shallow"
    git.run("clone", "--depth", "1", repo.url, str(shallow))
    assert git.run("rev-list", "--count", "HEAD", cwd=shallow).stdout.strip() == "1"
    git.run("fetch", "--depth", "3", cwd=shallow)
    assert git.run("rev-list", "--count", "HEAD", cwd=shallow).stdout.strip() == "3"

    partial = tmp_path / "partial"
    git.run("clone", "--filter=blob:none", "--no-checkout", repo.url, str(partial))
    missing = git.run("rev-list", "--objects", "--all", "--missing=print", cwd=partial).stdout
    assert any(line.startswith("?") for line in missing.splitlines()), "blobs were sent anyway"


def test_new_branch_tags_delete_and_force_push(git, hosted_repo, tmp_path, live_server):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)

    git.run("checkout", "-q", "-b", "feature/x", cwd=work)
    git.commit(work, {"f.txt": "feature\n"}, "feature")
    out = git.run("push", repo.push_url, "feature/x", cwd=work).stderr
    assert "remote: Create a change request for 'feature/x' on forge by visiting:" in out
    assert f"remote:      {live_server}/alice/project/compare/main...feature/x" in out

    git.run("tag", "-a", "v1.0", "-m", "release", cwd=work)
    git.run("push", repo.push_url, "v1.0", cwd=work)
    assert "refs/tags/v1.0^{}" in git.run("ls-remote", repo.url).stdout

    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work)
    rewritten = git.head(work)
    refused = git.run("push", repo.push_url, "feature/x", cwd=work, check=False)
    assert refused.returncode != 0
    assert "fetch first" in refused.stderr or "non-fast-forward" in refused.stderr
    git.run("push", "--force", repo.push_url, "feature/x", cwd=work)
    assert f"{rewritten}\trefs/heads/feature/x" in git.run("ls-remote", repo.url).stdout

    git.run("push", repo.push_url, "--delete", "feature/x", cwd=work)
    assert "feature/x" not in git.run("ls-remote", repo.url).stdout


def test_first_pushed_branch_becomes_default_when_main_is_missing(git, hosted_repo, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("branch", "-m", "trunk", cwd=work)
    git.run("push", repo.push_url, "trunk", cwd=work)
    clone = tmp_path / "clone"
    git.run("clone", repo.url, str(clone))
    assert git.run("branch", "--show-current", cwd=clone).stdout.strip() == "trunk"
    response = requests.get(
        f"{repo.url[:-4].replace('/alice/', '/api/v3/repos/alice/')}", timeout=30
    )
    assert response.json()["default_branch"] == "trunk"


# --- who may do what ----------------------------------------------------------------------


def test_anonymous_push_is_asked_for_credentials(git, hosted_repo, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    result = git.run("push", repo.url, "main", cwd=work, check=False)
    assert result.returncode != 0
    assert "could not read Username" in result.stderr or "Authentication failed" in result.stderr
    refused = requests.get(repo.url + "/info/refs?service=git-receive-pack", timeout=30)
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers


def test_password_and_token_with_any_username_both_work(git, hosted_repo, tmp_path):
    from conftest import PASSWORD

    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", authed(repo.url, "alice", PASSWORD), "main", cwd=work)
    git.commit(work, {"x": "1"}, "more")
    git.run("push", authed(repo.url, "anything-at-all", repo.token), "main", cwd=work)
    wrong = git.run(
        "push", authed(repo.url, "alice", "wrong password"), "main", cwd=work, check=False
    )
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr


def test_private_repository_is_missing_for_strangers_and_asks_anonymous(
    git, hosted_repo, make_user, make_token, tmp_path
):
    repo = hosted_repo(private=True)
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)

    anonymous = git.run("clone", repo.url, str(tmp_path / "a"), check=False)
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr
    make_user("mallory")
    stranger = authed(repo.url, "mallory", make_token("mallory"))
    refused = git.run("clone", stranger, str(tmp_path / "b"), check=False)
    assert refused.returncode != 0 and "Repository not found" in refused.stderr
    # Exactly what a repository that does not exist answers.
    nowhere = git.run(
        "clone", stranger.replace("project", "nothing"), str(tmp_path / "c"), check=False
    )
    assert "Repository not found" in nowhere.stderr
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_reader_may_clone_but_not_push_and_sees_why(
    git, hosted_repo, make_user, make_token, database, settings, tmp_path
):
    from forge.accounts import users as accounts
    from forge.repos import repositories as repos

    repo = hosted_repo(private=True)
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)
    make_user("reader")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        hosted = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, hosted, owner, "reader", "read")
    reader_url = authed(repo.url, "reader", make_token("reader"))
    git.run("clone", reader_url, str(tmp_path / "clone"))
    git.commit(tmp_path / "clone", {"x": "1"}, "reader's change")
    refused = git.run("push", reader_url, "main", cwd=tmp_path / "clone", check=False)
    assert refused.returncode != 0
    assert "remote: you may not push to alice/project: it needs the write role" in refused.stderr
    assert "[remote rejected] main -> main" in refused.stderr
    # A refused push leaves nothing behind: its objects never entered the repository.
    rejected = git.head(tmp_path / "clone")
    bare = settings.repos_dir / "alice" / "project.git"
    assert git.run("cat-file", "-e", rejected, cwd=bare, check=False).returncode != 0


def test_token_without_repo_scope_cannot_push(git, hosted_repo, make_token, tmp_path):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    limited = authed(repo.url, "alice", make_token("alice", scopes="user"))
    refused = git.run("push", limited, "main", cwd=work, check=False)
    assert refused.returncode != 0
    assert "main" not in git.run("ls-remote", repo.url).stdout


def test_failed_git_logins_are_throttled(hosted_repo):
    repo = hosted_repo()
    statuses = [
        requests.get(
            repo.url + "/info/refs?service=git-upload-pack", auth=("alice", f"bad-{i}"), timeout=30
        ).status_code
        for i in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_push_moves_nothing_on_disk_but_refs_and_objects(git, hosted_repo, tmp_path, settings):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)
    bare = Repo(str(settings.repos_dir / "alice" / "project.git"))
    assert bare.refs[b"refs/heads/main"].decode() == git.head(work)
    leftovers = [
        p.name for p in (settings.repos_dir / "alice" / "project.git" / "objects").iterdir()
    ]
    assert not [name for name in leftovers if name.startswith("incoming-")]


def pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


def test_a_fetch_that_read_the_refs_before_a_push_still_gets_its_pack(git, hosted_repo, tmp_path):
    """git over HTTP reads the refs, then asks for what it saw in a second request; a push
    landing in between must not make the fetch fail ('Client wants invalid object'), as it
    did for clones racing pushes under load."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# one\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    shown = requests.get(f"{repo.url}/info/refs", params={"service": "git-upload-pack"},
                         timeout=30)  # fmt: skip
    lines = [line.split(b"\x00")[0] for line in shown.content.split(b"\n")]
    [seen] = [line[-56:-16].decode() for line in lines if line.endswith(b" refs/heads/main")]
    assert seen == git.run("rev-parse", "HEAD", cwd=work).stdout.strip()

    git.commit(work, {"README.md": "# two\n"}, "meanwhile, a push")
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)

    caps = b"ofs-delta side-band-64k thin-pack"
    wants = pkt(b"want %s %s\n" % (seen.encode(), caps)) + b"0000" + pkt(b"done\n")
    kind = {"Content-Type": "application/x-git-upload-pack-request"}
    answer = requests.post(f"{repo.url}/git-upload-pack", data=wants, timeout=30, headers=kind)
    assert answer.status_code == 200
    assert b"ERR" not in answer.content[:200] and b"PACK" in answer.content, answer.content[:200]


def a_tip_ready_to_replace(git, hosted_repo, tmp_path, settings) -> tuple[Repo, str, str]:
    """alice/project with main at one commit and a second commit's objects pushed (to
    staging), so main can be moved to it without a push: (the bare repository, old, new)."""
    repo = hosted_repo()
    work = git.init(tmp_path / "work", {"README.md": "# one\n"})
    git.run("push", "-q", repo.push_url, "HEAD:main", cwd=work)
    old = git.head(work)
    new = git.commit(work, {"README.md": "# two\n"}, "two")
    git.run("push", "-q", repo.push_url, "HEAD:refs/heads/staging", cwd=work)  # the objects
    return Repo(str(settings.repos_dir / "alice" / "project.git")), old, new


def test_a_push_landing_while_a_fetch_reads_the_refs_still_leaves_its_want_fetchable(
    git, hosted_repo, tmp_path, settings
):
    """The fetch reads the refs, then the tips pushes replaced: read the other way round, a
    push landing between the two reads left the client's want in neither, and the clone
    failed with 'Client wants invalid object' (bench/load.py, 1 clone in 17). The push is
    made to land at that moment by the refs read itself, since no timing makes it reliably."""
    bare, shown, new = a_tip_ready_to_replace(git, hosted_repo, tmp_path, settings)
    read_refs = bare.get_refs

    def refs_read_while_a_push_lands():
        if bare.refs[b"refs/heads/main"].decode() == shown:
            with locked_refs(bare):
                apply_updates(bare, [RefUpdate("refs/heads/main", shown, new)])
        return read_refs()

    bare.get_refs = refs_read_while_a_push_lands
    caps = b"ofs-delta side-band-64k thin-pack"
    wants = pkt(b"want %s %s\n" % (shown.encode(), caps)) + b"0000" + pkt(b"done\n")
    environ = {"wsgi.input": io.BytesIO(wants), "CONTENT_LENGTH": str(len(wants))}
    answer = bytearray()
    smart_http.upload_pack(bare, smart_http.RequestBody(environ, 1 << 20), answer.extend)
    assert bare.refs[b"refs/heads/main"].decode() == new  # the push did land meanwhile
    assert b"ERR" not in answer[:200] and b"PACK" in answer, bytes(answer[:200])


def test_a_replaced_tip_is_fetchable_from_the_moment_its_ref_moves(
    git, hosted_repo, tmp_path, settings
):
    """The tip a push replaces is noted before the ref moves, not after: a fetch that read
    the old refs and asks in between found it neither a ref's value nor a recent tip (the
    rare 'Client wants invalid object' of bench/load.py). The ref's move is watched, and at
    that moment the old tip must already be one a fetch may ask for."""
    bare, old, new = a_tip_ready_to_replace(git, hosted_repo, tmp_path, settings)
    seen_when_moving = []
    set_if_equals = bare.refs.set_if_equals

    def watched(name, old_value, new_value, *args, **kwargs):
        seen_when_moving.append(old in recent_tips(bare))
        return set_if_equals(name, old_value, new_value, *args, **kwargs)

    bare.refs.set_if_equals = watched
    with locked_refs(bare):
        apply_updates(bare, [RefUpdate("refs/heads/main", old, new)])
    assert seen_when_moving == [True]
    assert bare.refs[b"refs/heads/main"].decode() == new
