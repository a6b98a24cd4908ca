"""A topic is submitted whole (Gerrit's change.submitWholeTopic) from every door: the API's
merge, the Merge button and the merge queue take every open change of the topic with the one
asked for, land them as one ref update, or refuse naming the change that blocks and land
nothing (tests/test_gerrit_push_options.py has `%submit`).

Everything runs the real `git` pushing to refs/for/main with `%topic=`, a live forge server and,
for the merge queue, a real rq worker running CI in the sandbox."""

from __future__ import annotations

import pytest
from conftest import form_post
from sqlalchemy import select
from support.ci import work

from forge.accounts import users as accounts
from forge.models import Change, ChangeEvent, MergeQueueEntry, PushEvent
from forge.repos import repositories as repos

# Green for a change alone, red when both a.txt and b.txt are there.
TOGETHER_RED = (
    "jobs:\n"
    "  test:\n"
    "    run: |\n"
    "      if [ -e a.txt ] && [ -e b.txt ]; then echo 'a and b break each other'; exit 1; fi\n"
    "      echo green\n"
)
GREEN = "jobs:\n  test:\n    run: echo green\n"


class Topic:
    """alice's repository, her clone with the commit-msg hook, and bob, a maintainer."""

    def __init__(self, git, hosted_repo, tmp_path, make_user, make_token, database, api, files):
        self.git, self.api, self.database = git, api, database
        self.repo = hosted_repo()
        make_user("bob")
        self.bob = make_token("bob")
        with database.session() as session:
            alice = accounts.get_user(session, "alice")
            repository = repos.get_repository(session, "alice", "project", alice)
            repos.set_collaborator(session, repository, alice, "bob", "maintain")
        self.work = tmp_path / "clone"
        git.init(self.work, {"README.md": "# project\n", **files})
        git.run("push", "-q", self.repo.push_url, "HEAD:main", cwd=self.work)
        git.install_change_id_hook(self.work)
        self.seed = git.head(self.work)
        self.heads: dict[int, str] = {}

    def upload(self, name: str, options: str = "topic=pair", files: dict | None = None) -> int:
        """A change adding `name`, on main (not on the one before: no chain), in the topic."""
        git = self.git
        git.run("checkout", "-q", "--detach", self.seed, cwd=self.work)
        git.commit(self.work, files or {name: f"{name}\n"}, f"Add {name}")
        out = git.run("push", self.repo.push_url, f"HEAD:refs/for/main%{options}", cwd=self.work)
        number = int(out.stderr.split("change #", 1)[1].split(":", 1)[0])
        self.heads[number] = git.head(self.work)
        return number

    def push_again(self, number: int, options: str) -> None:
        """The change's commit pushed again with `options` (%wip, %ready): no new patch set."""
        self.git.run("checkout", "-q", "--detach", self.heads[number], cwd=self.work)
        self.git.run("push", self.repo.push_url, f"HEAD:refs/for/main%{options}", cwd=self.work)

    def approve(self, number: int) -> None:
        answer = self.api("POST", f"/repos/alice/project/pulls/{number}/votes", self.bob,
                          json={"label": "Code-Review", "value": 2})  # fmt: skip
        assert answer.status_code in (200, 201), answer.text

    def merge(self, number: int, token: str | None = None):
        return self.api("PUT", f"/repos/alice/project/pulls/{number}/merge",
                        token or self.repo.token, json={"merge_method": "merge"})  # fmt: skip

    def states(self) -> dict[int, str]:
        with self.database.session() as session:
            return {c.number: c.state for c in session.scalars(select(Change))}

    def main_tip(self) -> str:
        out = self.git.run("ls-remote", self.repo.push_url, "refs/heads/main").stdout
        return out.split()[0]

    def moves_of_main(self) -> list[tuple[str, str, str]]:
        """(before, after, via) of every update of main since the first push."""
        with self.database.session() as session:
            rows = session.scalars(
                select(PushEvent)
                .where(PushEvent.ref == "refs/heads/main", PushEvent.before != "0" * 40)
                .order_by(PushEvent.id)
            )
            return [(r.before, r.after, r.via) for r in rows]

    def entries(self) -> dict[int, MergeQueueEntry]:
        with self.database.session() as session:
            rows = session.scalars(select(MergeQueueEntry).order_by(MergeQueueEntry.id)).all()
            found = {e.change.number: e for e in rows}
            session.expunge_all()
            return found

    def files_on_main(self) -> set[str]:
        self.git.run("fetch", "-q", self.repo.push_url, "main", cwd=self.work)
        tree = self.git.run("ls-tree", "--name-only", "FETCH_HEAD", cwd=self.work).stdout
        return set(tree.split())


@pytest.fixture
def topic(git, hosted_repo, tmp_path, make_user, make_token, database, api):
    def make(files: dict | None = None) -> Topic:
        return Topic(git, hosted_repo, tmp_path, make_user, make_token, database, api, files or {})

    return make


# --- the API's merge and the Merge button ------------------------------------------------------


def test_the_api_merges_the_whole_topic_as_one_update_or_names_the_change_that_blocks(topic):
    t = topic()
    first = t.upload("a.txt")
    second = t.upload("b.txt", "topic=pair,wip")
    t.upload("c.txt", "topic=other")  # another topic stays where it is

    refused = t.merge(first)
    assert refused.status_code == 405, refused.text
    message = refused.json()["message"]
    assert message.startswith("Pull Request is not mergeable: ")
    assert f"change #{second} cannot be submitted: it is work in progress" in message
    assert "nothing was merged" in message
    assert t.states() == {1: "open", 2: "open", 3: "open"} and t.main_tip() == t.seed

    t.push_again(second, "ready")
    merged = t.api("PUT", f"/repos/alice/project/pulls/{first}/merge", t.repo.token,
                   json={"merge_method": "merge", "commit_title": "Land a"})  # fmt: skip
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"] is True
    assert t.states() == {1: "merged", 2: "merged", 3: "open"}
    assert t.files_on_main() == {"README.md", "a.txt", "b.txt"}
    # One update of main, from the old tip to the commit that holds both changes.
    with t.database.session() as session:
        shas = {c.number: c.merge_commit_sha for c in session.scalars(select(Change))}
    assert t.moves_of_main() == [(t.seed, shas[second], "api")]
    assert merged.json()["sha"] == shas[first] != shas[second]
    subject = t.git.run("log", "-1", "--format=%s", shas[first], cwd=t.work).stdout.strip()
    assert subject == "Land a"  # the title given is the asked change's


def test_a_topic_whose_changes_conflict_is_refused_whole(topic):
    t = topic()
    t.upload("a.txt", files={"a.txt": "a\n", "README.md": "# a's project\n"})
    t.upload("b.txt", files={"README.md": "# b's project\n"})
    refused = t.merge(2)
    assert refused.status_code == 405, refused.text
    assert (
        "change #2 cannot be submitted: it conflicts with main and the changes before it in "
        "README.md; it needs a rebase" in refused.json()["message"]
    )
    assert t.states() == {1: "open", 2: "open"} and t.main_tip() == t.seed


def test_the_merge_button_merges_the_topic_or_says_which_change_blocks(topic, client, login):
    t = topic()
    first = t.upload("a.txt")
    second = t.upload("b.txt", "topic=pair,wip")
    login("alice")
    url = f"/alice/project/pull/{first}"
    head = t.api("GET", f"/repos/alice/project/pulls/{first}", t.repo.token).json()["head"]
    refused = form_post(client, url, url + "/merge", {"method": "merge", "sha": head["sha"]})
    assert refused.status_code == 400  # the page again, saying why
    page = refused.get_data(as_text=True)
    assert f"change #{second} cannot be submitted: it is work in progress" in page
    assert t.states() == {1: "open", 2: "open"} and t.main_tip() == t.seed

    t.push_again(second, "ready")
    done = form_post(client, url, url + "/merge", {"method": "squash", "sha": head["sha"]})
    assert done.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Changes #1, #2 of the topic &#39;pair&#39; were merged into main." in page
    assert t.states() == {1: "merged", 2: "merged"}
    assert t.files_on_main() == {"README.md", "a.txt", "b.txt"}
    assert len(t.moves_of_main()) == 1


# --- the merge queue ----------------------------------------------------------------------------


def test_queueing_one_change_queues_its_topic_which_lands_as_one_update(ci, topic, settings):
    t = topic({".forge/ci.yml": GREEN})
    answer = t.api("PUT", "/repos/alice/project/quality-gate", t.repo.token,
                   json={"auto_submit": False})  # fmt: skip
    assert answer.status_code == 200, answer.text
    first, second = t.upload("a.txt"), t.upload("b.txt")
    work(settings)  # each change's own CI
    t.approve(first)
    # bob may merge but, no admin, not past unmet requirements: b is not approved.
    refused = t.merge(first, t.bob)
    assert refused.status_code == 405
    assert f"change #{second} cannot be submitted yet" in refused.json()["message"]
    assert t.entries() == {}

    t.approve(second)
    queued = t.merge(first, t.bob)
    assert queued.status_code == 202, queued.text
    entries = t.entries()
    assert set(entries) == {first, second}
    assert entries[first].batch_id == entries[second].batch_id == entries[first].id
    work(settings)

    entries = t.entries()
    assert [entries[n].state for n in (first, second)] == ["merged", "merged"]
    assert t.states() == {1: "merged", 2: "merged"}
    # b's speculative merge holds a's: main moved once, to exactly that tested commit.
    assert entries[second].base_sha == entries[first].speculative_sha
    assert t.main_tip() == entries[second].speculative_sha
    assert t.moves_of_main() == [(t.seed, t.main_tip(), "merge_queue")]
    assert t.files_on_main() >= {"a.txt", "b.txt"}


def test_a_topic_whose_merge_fails_leaves_the_queue_whole(ci, topic, settings, api):
    t = topic({".forge/ci.yml": TOGETHER_RED})
    first, second = t.upload("a.txt"), t.upload("b.txt")
    work(settings)  # green alone
    t.approve(first)
    work(settings)
    assert t.entries() == {}  # auto-submit waits for the whole topic
    t.approve(second)  # now the topic enters by itself, together
    work(settings)

    entries = t.entries()
    assert [entries[n].state for n in (first, second)] == ["ejected", "ejected"]
    assert "CI failed on the speculative merge (test failed)" in entries[second].reason
    assert entries[first].reason.startswith(
        f"change #{second} of its topic left the merge queue: CI failed"
    )
    assert t.states() == {1: "open", 2: "open"} and t.main_tip() == t.seed
    assert t.moves_of_main() == []
    # As any ejection: on each change's timeline and in the queue's listing.
    with t.database.session() as session:
        kinds = session.execute(
            select(Change.number, ChangeEvent.kind).join(Change, ChangeEvent.change_id == Change.id)
        ).all()
    assert {(first, "queue_ejected"), (second, "queue_ejected")} <= set(kinds)
    listed = api("GET", "/repos/alice/project/merge-queue?state=all", t.repo.token).json()
    assert {i["pull_request"]["number"]: i["state"] for i in listed} == {
        first: "ejected",
        second: "ejected",
    }


def test_a_topic_change_that_conflicts_takes_its_topic_out_of_the_queue(ci, topic, settings):
    t = topic({".forge/ci.yml": GREEN})
    # Both retitle README.md: each merges alone, not one on the other.
    first = t.upload("a.txt", files={"a.txt": "a\n", "README.md": "# a's project\n"})
    second = t.upload("b.txt", files={"README.md": "# b's project\n"})
    assert (first, second) == (1, 2)
    work(settings)
    t.approve(first)
    t.approve(second)  # the topic enters whole, by itself
    work(settings)

    entries = t.entries()
    assert [entries[n].state for n in (1, 2)] == ["ejected", "ejected"]
    assert "conflicts with the changes ahead of it in the queue (#1)" in entries[2].reason
    assert entries[1].reason.startswith("change #2 of its topic left the merge queue:")
    assert t.states() == {1: "open", 2: "open"} and t.main_tip() == t.seed
