"""Change requests: uploading with `git push HEAD:refs/for/main`, patch sets, opening from
branches, and the bad inputs that must change nothing."""

import pytest
from conftest import authed
from sqlalchemy import select

from forge.accounts import users as accounts
from forge.errors import Invalid
from forge.models import Change, Notification
from forge.repos import repositories as repos
from forge.review import changes, inbox


@pytest.fixture
def upstream(git, hosted_repo, tmp_path, make_user, make_token):
    """alice's public repository with main, and stranger bob with a clone and a token."""
    repo = hosted_repo()
    work = git.init(tmp_path / "alice", {"app.py": "print('hello')\n"})
    git.run("push", repo.push_url, "main", cwd=work)
    make_user("bob")
    repo.bob_url = authed(repo.url, "bob", make_token("bob"))
    repo.bob = tmp_path / "bob"
    git.run("clone", repo.bob_url, str(repo.bob))
    git.install_change_id_hook(repo.bob)
    return repo


def changes_of(database, number=None):
    with database.session() as session:
        rows = session.scalars(select(Change).order_by(Change.number)).all()
        return [
            (c.number, c.title, c.state, c.author.name, [p.head_sha for p in c.patch_sets])
            for c in rows
        ]


def test_stranger_uploads_a_change_and_updates_it_twice(git, upstream, database, live_server):
    first = git.commit(upstream.bob, {"app.py": "print('hi')\n"}, "Greet more briefly")
    pushed = git.run(
        "push", "-o", "topic=greeting", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob
    )
    assert "remote: Created change #1: Greet more briefly" in pushed.stderr
    assert f"remote:   {live_server}/alice/project/pull/1" in pushed.stderr
    assert "main" in git.run("ls-remote", upstream.url).stdout
    refs = git.run("ls-remote", upstream.url).stdout
    assert f"{first}\trefs/pull/1/head" in refs
    # main itself did not move: a stranger proposes, nobody merged anything.
    assert f"{first}\trefs/heads/main" not in refs

    # Amended (the hook keeps its Change-Id): a new patch set, whatever the topic says.
    (upstream.bob / "app.py").write_text("print('hi!')\n")
    git.run("commit", "-q", "-a", "--amend", "--no-edit", cwd=upstream.bob)
    second = git.head(upstream.bob)
    again = git.run(
        "push", "-o", "topic=other", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob
    )
    assert "remote: Updated change #1 (patch set 2)" in again.stderr
    kept = git.change_id_trailer(upstream.bob)
    git.run("commit", "-q", "--amend", "-m", "Greet with feeling", "-m", kept, cwd=upstream.bob)
    third = git.head(upstream.bob)
    git.run("push", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob)
    assert changes_of(database) == [
        (1, "Greet more briefly", "open", "bob", [first, second, third])
    ]
    assert f"{third}\trefs/pull/1/head" in git.run("ls-remote", upstream.url).stdout


def test_change_id_trailer_finds_the_change_and_options_set_title(git, upstream, database):
    message = "Fix it\n\nLonger story.\n\nChange-Id: I" + "a" * 40
    (upstream.bob / "x.txt").write_text("1\n")
    git.run("add", "x.txt", cwd=upstream.bob)
    git.run("commit", "-q", "-m", message, cwd=upstream.bob)
    git.run(
        "push",
        "-o",
        "title=A better title",
        "-o",
        "description=Why it matters",
        upstream.bob_url,
        "HEAD:refs/for/main",
        cwd=upstream.bob,
    )
    (upstream.bob / "x.txt").write_text("2\n")
    git.run("commit", "-q", "-a", "--amend", "-m", message, cwd=upstream.bob)
    out = git.run("push", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob)
    assert "Updated change #1 (patch set 2)" in out.stderr
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        assert (change.title, change.description) == ("A better title", "Why it matters")
        assert change.gerrit_change_id == "I" + "a" * 40


def test_upload_to_a_missing_branch_is_refused_and_leaves_nothing(
    git, upstream, database, settings
):
    sha = git.commit(upstream.bob, {"y.txt": "1\n"}, "lost")
    out = git.run("push", upstream.bob_url, "HEAD:refs/for/nowhere", cwd=upstream.bob, check=False)
    assert out.returncode != 0
    assert "the target branch 'nowhere' does not exist" in out.stderr
    assert changes_of(database) == []
    bare = settings.repos_dir / "alice" / "project.git"
    assert git.run("cat-file", "-e", sha, cwd=bare, check=False).returncode != 0


def test_upload_of_nothing_new_is_refused(git, upstream, database):
    out = git.run("push", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob, check=False)
    assert out.returncode != 0 and "no commits between main and the pushed commit" in out.stderr
    assert changes_of(database) == []


def test_open_change_from_a_branch_and_follow_its_pushes(
    git, hosted_repo, tmp_path, database, settings
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    first = git.commit(work, {"f.txt": "1\n"}, "feature")
    git.run("push", repo.push_url, "feature", cwd=work)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.find_repository(session, "alice", "project")
        change = changes.open_change(
            session,
            settings.repos_dir,
            project,
            alice,
            title="Feature",
            base="main",
            head="feature",
        )
        assert change.number == 1
    second = git.commit(work, {"f.txt": "2\n"}, "more")
    out = git.run("push", repo.push_url, "feature", cwd=work)
    assert "remote: Updated change #1 (patch set 2)" in out.stderr
    assert changes_of(database) == [(1, "Feature", "open", "alice", [first, second])]


@pytest.mark.parametrize(
    ("base", "head", "message"),
    [
        ("main", "missing", "the head branch 'missing' does not exist"),
        ("gone", "main", "the base branch 'gone' does not exist"),
        ("main", "main", "the base and head branches are the same"),
        ("main", "orphan", "no history in common"),
    ],
)
def test_bad_change_requests_say_why_and_write_nothing(
    git, hosted_repo, tmp_path, database, settings, base, head, message
):
    repo = hosted_repo()
    work = git.init(tmp_path / "work")
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "--orphan", "orphan", cwd=work)
    git.commit(work, {"other.txt": "unrelated\n"}, "unrelated root")
    git.run("push", repo.push_url, "orphan", cwd=work)
    with database.session() as session:
        alice = accounts.get_user(session, "alice")
        project = repos.find_repository(session, "alice", "project")
        with pytest.raises(Invalid, match=message):
            changes.open_change(
                session, settings.repos_dir, project, alice, title="x", base=base, head=head
            )
        session.rollback()
    assert changes_of(database) == []
    assert "refs/pull/" not in git.run("ls-remote", repo.url).stdout


def test_mentions_notify_readers(git, upstream, database, make_user):
    make_user("carol")
    git.commit(upstream.bob, {"z.txt": "1\n"}, "Z")
    git.run("push", upstream.bob_url, "HEAD:refs/for/main", cwd=upstream.bob)
    with database.session() as session:
        change = session.scalars(select(Change)).one()
        bob = accounts.get_user(session, "bob")
        changes.add_comment(session, bob, change, "What do you think, @carol and @nobody?")
    with database.session() as session:
        carol = accounts.get_user(session, "carol")
        alice = accounts.get_user(session, "alice")
        assert [(n.reason, n.detail) for n in inbox.inbox(session, carol)] == [
            ("mention", "bob mentioned you")
        ]
        assert [c.number for c in changes.awaiting_review(session, alice)] == [1]
        assert session.scalars(select(Notification)).all()
