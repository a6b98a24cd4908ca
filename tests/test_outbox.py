"""The outbox: follow-up work is recorded in the transaction of the change it follows, so a
vote or a merge whose transaction commits always gets its follow-up (a merge-queue step, a
webhook delivery), even when the queue cannot be reached at that moment, and one whose
transaction rolls back gets none. (Pushes: tests/test_redis_outage.py.)

The queue's failure is real: the session's way to the queue points at a port on 127.0.0.1
where no Redis listens, so rq's own connection error is what the commit meets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import authed, forge_cli, free_port
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from support.ci import work

from forge import outbox, queue
from forge.accounts import users as accounts
from forge.db import utcnow
from forge.gate import merging
from forge.gate import votes as vote_service
from forge.models import Change, OutboxMessage, User, WebhookDelivery
from forge.notify import webhooks
from forge.repos import repositories as repos
from forge.repos.refs import RefChangeSettings


@pytest.fixture
def change(git, hosted_repo, tmp_path, make_user, make_token, database, ci):
    """carol's change in alice's project, pushed for review with real git; maya maintains."""
    repo = hosted_repo()
    work_dir = git.init(tmp_path / "alice", {"app.py": "print('hello')\n"})
    git.run("push", "-q", repo.push_url, "main", cwd=work_dir)
    make_user("maya")
    make_user("carol")
    with database.session() as session:
        owner = accounts.get_user(session, "alice")
        project = repos.find_repository(session, "alice", "project")
        repos.set_collaborator(session, project, owner, "maya", "maintain")
    carol_url = authed(repo.url, "carol", make_token("carol"))
    clone = tmp_path / "carol"
    git.run("clone", "-q", carol_url, str(clone))
    git.install_change_id_hook(clone)
    git.commit(clone, {"app.py": "print('hello, world')\n"}, "Greet the world")
    git.run("push", "-q", carol_url, "HEAD:refs/for/main", cwd=clone)
    return repo


def unreachable_queue():
    """A way to the queue that fails as it does when Redis is down."""
    connection = queue.connect(f"redis://127.0.0.1:{free_port()}/0")
    return lambda name, func, *args, **options: queue.enqueue(
        connection, name, func, *args, **options
    )


def reachable_queue(settings):
    connection = queue.connect(settings.redis_url)
    return lambda name, func, *args, **options: queue.enqueue(
        connection, name, func, *args, **options
    )


def approve(session, name: str = "maya") -> None:
    change = session.scalar(select(Change).where(Change.number == 1))
    voter = session.scalar(select(User).where(User.name == name))
    vote_service.record_vote(session, voter, change, "Code-Review", 2)


def state_of_change(database) -> str:
    with database.session() as session:
        return session.scalar(select(Change.state).where(Change.number == 1))


def test_a_vote_committed_while_the_queue_is_down_still_gets_its_merge(
    change, database, settings, tmp_path
):
    with database.session() as session:
        session.info["forge.enqueue"] = unreachable_queue()
        approve(session)
    # The commit stood (no error reached the voter), and the follow-up waits in the outbox.
    with database.session() as session:
        waiting = session.scalars(select(OutboxMessage)).all()
        assert [m.func for m in waiting] == ["forge.jobs.consider_for_merge_queue"]
    work(settings)  # the queue holds nothing yet: nothing happens
    assert state_of_change(database) == "open"

    # The relay leaves young rows to the process that wrote them; once older, it sends them,
    # here through `forge ci reconcile`, as the reconciler beside every CI worker does.
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    with database.session() as session:
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=1)))
    done = forge_cli("ci", "reconcile", home=settings.home, env=env)
    assert done.returncode == 0, done.stderr
    assert "relayed 1 outbox job(s)" in done.stderr
    with database.session() as session:
        assert outbox.waiting(session) == 0
    work(settings)
    assert state_of_change(database) == "merged"


def test_a_vote_rolled_back_leaves_no_follow_up(change, database, settings):
    with pytest.raises(RuntimeError), database.session() as session:
        session.info["forge.enqueue"] = reachable_queue(settings)
        approve(session)
        raise RuntimeError("the request failed after the vote was recorded")
    with database.session() as session:
        assert outbox.waiting(session) == 0
        assert session.scalar(select(Change).where(Change.number == 1)).state == "open"
    queued = queue.queue(queue.connect(settings.redis_url), "default").jobs
    assert "forge.jobs.consider_for_merge_queue" not in [j.func_name for j in queued]
    work(settings)
    assert state_of_change(database) == "open"


def test_a_savepoint_rolled_back_inside_the_transaction_keeps_its_follow_up(
    change, database, settings
):
    """A savepoint is no transaction: released, it queues nothing yet; rolled back (an
    IntegrityError caught inside begin_nested, a duplicate row some other request wrote first),
    it takes none of the transaction's after-commit work with it."""
    consider = "forge.jobs.consider_for_merge_queue"

    def queued() -> list[str]:
        jobs = queue.queue(queue.connect(settings.redis_url), "default").jobs
        return [job.func_name for job in jobs]

    with database.session() as session:
        session.info["forge.enqueue"] = reachable_queue(settings)
        approve(session)
        carol = session.scalar(select(User).where(User.name == "carol"))
        with session.begin_nested():  # a savepoint released is no commit: nothing goes yet
            carol.full_name = "Carol"
        assert consider not in queued()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(User(name="carol", lower_name="carol", email=carol.email,
                             password_hash="!"))  # fmt: skip
            session.flush()
        assert consider not in queued()
    assert consider in queued()
    with database.session() as session:
        assert outbox.waiting(session) == 0  # handed over at once, not left for the relay
    work(settings)
    assert state_of_change(database) == "merged"


def merge_with_hook(session, settings, enqueue) -> None:
    """alice (an admin here, past the gate) merges carol's change, with a hook on
    pull_request events and every follow-up going through `enqueue`."""
    session.info["webhooks"] = replace(session.info["webhooks"], enqueue=enqueue)
    session.info["forge.enqueue"] = enqueue
    owner = session.scalar(select(User).where(User.name == "alice"))
    project = repos.find_repository(session, "alice", "project")
    webhooks.create_hook(session, owner, project, url="http://127.0.0.1:9/hook",
                         events=["pull_request"], allowed_hosts=("127.0.0.1",))  # fmt: skip
    session.flush()
    change = session.scalar(select(Change).where(Change.number == 1))
    config = RefChangeSettings("", settings.max_object_bytes, enqueue, settings.repos_dir)
    merging.merge_change(session, settings.repos_dir, change, owner, "merge", config)


def test_a_merge_committed_while_the_queue_is_down_still_sends_its_webhook(
    change, database, settings, app
):
    with app.test_request_context(), database.session() as session:
        merge_with_hook(session, settings, unreachable_queue())
    with database.session() as session:
        deliveries = session.scalars(select(WebhookDelivery)).all()
        assert {(d.event, d.status) for d in deliveries} == {
            ("ping", "pending"),  # the hook's creation ping
            ("pull_request", "pending"),
        }
        waiting = [m.func for m in session.scalars(select(OutboxMessage))]
        assert waiting.count("forge.jobs.deliver_webhook") == 2
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=1)))
    assert outbox.relay(database, reachable_queue(settings)) == len(waiting)
    queued = queue.queue(queue.connect(settings.redis_url), "hooks").jobs
    assert [j.func_name for j in queued] == ["forge.jobs.deliver_webhook"] * 2
    assert state_of_change(database) == "merged"


def test_a_merge_rolled_back_leaves_no_delivery_and_no_follow_up(change, database, settings, app):
    with pytest.raises(RuntimeError), app.test_request_context(), database.session() as session:
        merge_with_hook(session, settings, reachable_queue(settings))
        raise RuntimeError("the request failed after the merge was recorded")
    with database.session() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
        assert outbox.waiting(session) == 0
    assert queue.queue(queue.connect(settings.redis_url), "hooks").jobs == []
    assert state_of_change(database) == "open"
