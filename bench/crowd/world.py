"""The simulated community's forge: a real database (SQLite in a temporary directory, made by
forge's migrations) and forge's own services deciding everything the gate depends on.

Nothing here re-implements the gate. Votes go through `forge.gate.votes.record_vote` (which
checks privileges), reviewers pick work from `forge.gate.review_queue`, readiness is
`forge.gate.quality_gate.submit_status`, merges are `forge.gate.merging.record_merged`,
abandons `forge.review.changes.close_change`, audits `forge.accounts.reputation.mark_audit`,
reverts `reputation.settle_revert`, and weights come from `forge.accounts.trust`'s flow. The
reputation subscribers are wired as forge wires them (`forge.subscribers`), without the
queue and webhook ones, which need Redis and have no say in the gate.

What the simulation leaves out: git. A change's commits are made-up object ids and CI is a
commit status on them (forge's CI posts the same rows); the gate then requires Verified
("always"), so it never opens a repository on disk.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select, update

from forge import events
from forge.accounts import privileges, reputation, trust
from forge.db import Database
from forge.errors import Forbidden
from forge.gate import merging, quality_gate, review_queue, votes
from forge.gate.labels import find_label
from forge.models import Change, PatchSet, Repository, User
from forge.models.quality import TrustEdge, Vote
from forge.models.statuses import CommitStatus
from forge.repos import repositories
from forge.review import changes as change_service

from .community import Person, Proposal, draw

CI_CONTEXT = "ci/tests"
_TEMPLATE: dict[str, Path] = {}


def _template_database() -> Path:
    """A migrated, empty SQLite file, made once per process and copied for each run (running
    the migrations takes longer than most runs)."""
    if "path" not in _TEMPLATE:
        where = Path(tempfile.mkdtemp(prefix="crowd-template-")) / "forge.db"
        database = Database(f"sqlite:///{where}")
        database.upgrade()
        database.dispose()
        _TEMPLATE["path"] = where
    return _TEMPLATE["path"]


@contextmanager
def opened_world(seed: int, community_quorum: bool):
    """A fresh forge database for one run, with forge's reputation subscribers wired; the
    process's earlier wiring is put back afterwards (tests share the process)."""
    directory = Path(tempfile.mkdtemp(prefix="crowd-"))
    shutil.copy(_template_database(), directory / "forge.db")
    database = Database(f"sqlite:///{directory / 'forge.db'}")
    wired_before = events._subscribers
    events.configure(
        {
            events.VoteCast: [reputation.on_vote_cast],
            events.ChangeMerged: [reputation.on_change_merged],
            events.ChangeClosed: [reputation.on_change_closed],
        }
    )
    try:
        with database.session() as session:
            yield World(session, directory, seed, community_quorum)
    finally:
        events._subscribers = wired_before
        database.dispose()
        shutil.rmtree(directory, ignore_errors=True)


class World:
    """One run's forge: the project repository, its people, and the calls the rounds make."""

    def __init__(self, session, directory: Path, seed: int, community_quorum: bool):
        self.session = session
        self.repos_dir = directory / "repositories"  # never read: Verified is "always"
        self.seed = seed
        self.community_quorum = community_quorum
        self.users: dict[int, User] = {}
        self.repo: Repository | None = None
        self.changes: dict[int, Change] = {}

    # --- people and repositories ------------------------------------------------------------

    def add_people(self, people: list[Person]) -> None:
        """Accounts as sign-up makes them, minus the password hashing (argon2 for a thousand
        sybils would be most of the run; sign-up's cost is not what this measures)."""
        for person in people:
            user = User(name=person.name, lower_name=person.name.lower(),
                        email=f"{person.name}@crowd.example", password_hash="!")  # fmt: skip
            self.session.add(user)
            self.session.flush()
            person.id = user.id
            self.users[user.id] = user

    def make_project(self, maintainers: list[Person]) -> None:
        """The project: the first maintainer owns it, the others hold the maintain role; its
        gate requires Verified and, for the community gate, takes a weighted +1 quorum."""
        owner = self.users[maintainers[0].id]
        self.repo = self._repository(owner, "project")
        for person in maintainers[1:]:
            repositories.set_collaborator(self.session, self.repo, owner, person.name, "maintain")
        quality_gate.update_gate(self.session, owner, self.repo, require_verified="always",
                                 community_quorum=self.community_quorum)  # fmt: skip

    def _repository(self, owner: User, name: str) -> Repository:
        repo = Repository(owner=owner, name=name, lower_name=name.lower())
        self.session.add(repo)
        self.session.flush()
        return repo

    def farm(self, ring: list[Person]) -> None:
        """The ring farms reputation where it holds every role: its own repository, each
        account's change merged by the next account."""
        if not ring:
            return
        owner = self.users[ring[0].id]
        farm = self._repository(owner, "farm")
        for person in ring[1:]:
            repositories.set_collaborator(self.session, farm, owner, person.name, "maintain")
        for i, person in enumerate(ring):
            merger = self.users[ring[(i + 1) % len(ring)].id]
            change = self._change(farm, self.users[person.id], f"farm {i}", ("farm", i))
            merging.record_merged(self.session, change, merger, "squash",
                                  _sha("farm-merge", i), "http://crowd.example")  # fmt: skip
        self.session.flush()

    # --- changes ----------------------------------------------------------------------------

    def _change(self, repo: Repository, author: User, title: str, key) -> Change:
        self.session.execute(
            update(Repository)
            .where(Repository.id == repo.id)
            .values(last_change_number=Repository.last_change_number + 1)
        )
        self.session.refresh(repo, ["last_change_number"])
        head = _sha("head", self.seed, key)
        change = Change(repository_id=repo.id, number=repo.last_change_number, title=title,
                        author=author, base_branch="main", head_sha=head)  # fmt: skip
        self.session.add(change)
        self.session.flush()
        self.session.add(PatchSet(change=change, number=1, head_sha=head,
                                  base_sha=_sha("base", 0), uploader=author))  # fmt: skip
        self.session.flush()
        return change

    def open(self, proposal: Proposal, maintainer: Person | None = None) -> None:
        """Propose the change; CI reports at once (its verdict is the proposal's); an audit is
        marked by the maintainer who made it."""
        change = self._change(self.repo, self.users[proposal.author.id],
                              f"change {proposal.index}", proposal.index)  # fmt: skip
        state = "success" if proposal.ci_passes else "failure"
        self.session.add(CommitStatus(repository_id=self.repo.id, sha=change.head_sha,
                                      context=CI_CONTEXT, state=state))  # fmt: skip
        proposal.change_id = change.id
        self.changes[proposal.index] = change
        if proposal.audit is not None:
            reputation.mark_audit(self.session, self.users[maintainer.id], change, proposal.audit)
        self.session.flush()

    def queue(self, person: Person, limit: int) -> list[int]:
        """The change ids forge's review queue offers the person, neediest first."""
        page = review_queue.review_queue(self.session, self.users[person.id], self.repo,
                                         limit=limit)  # fmt: skip
        return [item.change.id for item in page.items]

    def deciders(self, people: list[Person]) -> set[int]:
        """The people who may give Code-Review +2/-2 here now (by role or earned trust); read
        once a round, as a reviewer sees the form (record_vote checks again)."""
        rules = privileges.rules_of(self.session)
        label = find_label(self.session, self.repo, "Code-Review")
        held = privileges.standings(self.session, self.repo, [self.users[p.id] for p in people])
        return {
            p.id for p in people
            if privileges.missing_privilege(rules, held[p.id], self.repo, label, 2) is None
        }  # fmt: skip

    def vote(self, person: Person, proposal: Proposal, good: bool, decides: bool) -> int:
        """Record the person's verdict as the strongest Code-Review vote they may give (a +2
        refused because their trust fell since the round began becomes a +1)."""
        change = self.changes[proposal.index]
        value = 2 if decides else 1
        try:
            votes.record_vote(self.session, self.users[person.id], change, "Code-Review",
                              value if good else -value, via="api")  # fmt: skip
        except Forbidden:
            value = 1
            votes.record_vote(self.session, self.users[person.id], change, "Code-Review",
                              value if good else -value, via="api")  # fmt: skip
        proposal.votes[person.id] = value if good else -value
        return proposal.votes[person.id]

    def warned(self, proposal: Proposal) -> bool:
        """Whether a counted -1 or -2 (from someone with standing) sits on the change."""
        views = quality_gate.votes_of(self.session, self.changes[proposal.index])
        return any(v.counted and v.label == "Code-Review" and v.value < 0 for v in views)

    def submit_status(self, proposal: Proposal):
        return quality_gate.submit_status(self.session, self.repos_dir,
                                          self.changes[proposal.index])  # fmt: skip

    def decider(self, proposal: Proposal) -> User | None:
        return quality_gate.decider_of(self.session, self.changes[proposal.index])

    def land(self, proposal: Proposal, decider: User) -> None:
        change = self.changes[proposal.index]
        merging.record_merged(self.session, change, decider, "squash",
                              _sha("merge", proposal.index), "http://crowd.example")  # fmt: skip

    def close(self, proposal: Proposal, closer: Person | None = None) -> None:
        """Abandon: by the author (who gives up), or by a maintainer (who decided)."""
        who = closer or proposal.author
        change_service.close_change(self.session, self.users[who.id],
                                    self.changes[proposal.index])  # fmt: skip

    def revert(self, proposal: Proposal) -> None:
        reputation.settle_revert(self.session, self.changes[proposal.index],
                                 _sha("revert", proposal.index))  # fmt: skip

    def weights(self, people: list[Person]) -> dict[str, float]:
        """Each person's vote weight in the project (their trust's weight)."""
        if not people:
            return {}
        users = [self.users[p.id] for p in people]
        held = privileges.standings(self.session, self.repo, users)
        return {p.name: held[p.id].weight for p in people}

    def strikes(self) -> dict[int, int]:
        """Wrong audit answers not made up for, per person (forge.accounts.trust)."""
        return trust._strikes(self.session, self.repo)

    def trust_into(self, people: list[Person]) -> float:
        """What honest people gave the group in the project, net per giver (the edges that
        bound the trust the group may hold, forge.accounts.trust)."""
        ids = {p.id for p in people}
        given: dict[tuple[int, int], float] = {}
        rows = self.session.execute(
            select(TrustEdge.truster_id, TrustEdge.trustee_id, TrustEdge.amount).where(
                TrustEdge.repository_id == self.repo.id, TrustEdge.trustee_id.in_(ids)
            )
        ).all()
        for truster, trustee, amount in rows:
            if truster not in ids:
                given[(truster, trustee)] = given.get((truster, trustee), 0.0) + amount
        return sum(max(0.0, amount) for amount in given.values())

    def code_review_votes(self) -> list[tuple[int, int, int]]:
        """(change id, voter id, value) of every Code-Review vote on the project."""
        rows = self.session.execute(
            select(Vote.change_id, Vote.user_id, Vote.value)
            .join(Change, Change.id == Vote.change_id)
            .where(Change.repository_id == self.repo.id, Vote.label == "Code-Review")
        ).all()
        return [tuple(row) for row in rows]

    def end_round(self) -> None:
        """A round is a transaction: forge's per-transaction trust cache starts afresh."""
        self.session.commit()


def _sha(*key) -> str:
    return draw(0, "sha", *key).getrandbits(160).to_bytes(20, "big").hex()
