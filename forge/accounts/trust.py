"""Trust: what a person's vote weighs in one repository, and why; sock puppets weigh nothing.

A crowd gate that counts accounts is only as strong as sign-up is hard, so forge counts trust,
as Advogato's network-flow metric does. Trust in a repository is *seeded* at the people it
already trusts, by role (`ReputationRules`): its owner, admins and maintainers weigh
`max_weight`, writers `writer_weight`, triagers `triage_weight`. Everyone else starts at 0,
however many accounts they are, and *earns* trust only from decisions made by people who hold
it there, each decision recorded as a `TrustEdge` from the decider to the person it rewards
(`forge.accounts.trust_edges` records them):

- a change merged: the person whose action merged it (Merge, auto-merge, or the vote that made
  it submittable) gives its author `trust_merged`;
- a merge or abandon by a trusted person: the reviewers whose final vote agreed with it, given
  before the decider's own vote, share `trust_agreed` (split among all of them: fifty accounts
  copying one vote get what one would, and a vote copied after the decision gets nothing);
- an audit answered right: its maintainer gives `trust_audit`, halved for each right answer
  after the first; a wrong answer takes `trust_audit` back;
- a revert within the window takes back what the reverted merge gave;
- a vouch: someone with trust lends part of their own (at most `max_vouch`) to another.

Earned trust is the maximum flow from the seeds through those edges (capacity: an edge's net
amount) into each person (capacity: `max_earned_trust`, less `trust_audit_failed` for each
*strike*: a wrong answer on one of the repository's audits not made up for by a right answer
on a known-bad one), found by shortest augmenting paths
(Edmonds-Karp), so people nearer the maintainers fill first; then what people without a role
vouched moves from their earned trust to the people they vouched for.

**The bound.** For any set X of accounts holding no role, the trust X holds in total is at most
the capacity of the edges into X from people outside X (the flow into X passes those edges,
and a vouch only moves trust that is already held).
For a ring of sock puppets those edges are the "attack edges": decisions honest, trusted people
made about the ring's accounts. Merges, votes and audits among the ring add edges inside X
only, and edges from people who hold no trust carry nothing; so the ring's weight is bounded by
what honest people gave it, not by how many accounts it has. Trust is per repository: what a
ring earns in its own repositories, where it holds every role, counts nowhere else.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field

from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from forge.accounts.permissions import ROLE_RANK, granted_user_ids, roles_of
from forge.config import ReputationRules
from forge.models import Repository, User
from forge.models.quality import Audit, TrustEdge

UNIT = 1000  # the flow runs on whole thousandths of a vote
CACHE_KEY = "forge.trust"


@dataclass(frozen=True)
class Trust:
    """A person's standing in one repository: their role, the trust it grants, the trust they
    earned, and so what their vote weighs."""

    role: str | None
    granted: float = 0.0
    earned: float = 0.0
    lent: float = 0.0
    suspended: bool = False
    sources: tuple[tuple[str, float], ...] = ()  # who the earned trust came from, and how much
    rules: ReputationRules = field(default_factory=ReputationRules, repr=False, compare=False)

    @property
    def weight(self) -> float:
        """What the person's Code-Review +1 adds toward the quorum."""
        if self.suspended or self.role is None:
            return 0.0
        # Down to the hundredth, never up: fifty accounts sharing one agreement (0.006 each)
        # would otherwise weigh 0.5 together where they were given 0.3.
        return math.floor(max(self.granted, self.earned) * 100 + 1e-6) / 100

    @property
    def maintainer(self) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK["maintain"]

    @property
    def can_read(self) -> bool:
        return self.role is not None and not self.suspended

    @property
    def approver(self) -> bool:
        """Whether their approval is one the default gate takes: a triager or more by role,
        or earned trust of `approver_trust`."""
        if not self.can_read:
            return False
        if ROLE_RANK[self.role] >= ROLE_RANK["triage"]:
            return True
        return self.earned >= self.rules.approver_trust

    @property
    def reason(self) -> str:
        """Why the vote weighs what it does, in a sentence."""
        if self.suspended:
            return "a suspended account weighs nothing"
        if self.role is None:
            return "no access to the repository"
        if self.granted and self.granted >= self.earned:
            return f"the {self.role} role"
        if self.earned > 0:
            names = ", ".join(name for name, _amount in self.sources[:5])
            more = f" and {len(self.sources) - 5} more" if len(self.sources) > 5 else ""
            return f"trust earned from decisions of {names}{more}"
        return "no standing in the repository yet: the vote is advisory"


def granted_trust(rules: ReputationRules, role: str | None) -> float:
    """The trust a role grants (read and no access: none)."""
    if role is None:
        return 0.0
    rank = ROLE_RANK[role]
    if rank >= ROLE_RANK["maintain"]:
        return rules.max_weight
    if rank >= ROLE_RANK["write"]:
        return rules.writer_weight
    if rank >= ROLE_RANK["triage"]:
        return rules.triage_weight
    return 0.0


# --- the flow ---------------------------------------------------------------------------------


@dataclass
class Earned:
    """The outcome of one repository's flow: earned trust and its sources per person."""

    trust: dict[int, float]
    sources: dict[int, list[tuple[int, float]]]
    lent: dict[int, float]


def _seeds(session: Session, repo: Repository) -> set[int]:
    """Everyone whose role in the repository grants trust: the owner, site admins and
    those granted triage or more, as collaborators or through an organization and its teams
    (suspended accounts are nobody)."""
    ids = granted_user_ids(session, repo, "triage")
    ids |= set(session.scalars(select(User.id).where(User.is_admin.is_(True))))
    ids.add(repo.owner_id)
    if not ids:
        return set()
    active = session.scalars(select(User).where(User.id.in_(ids))).all()
    return {user.id for user in active if user.is_active}


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session, *_args) -> None:
    # Roles and edges may change in the next transaction, or in another process meanwhile.
    session.info.pop(CACHE_KEY, None)


def earned_in(session: Session, repo: Repository, rules: ReputationRules) -> Earned:
    """Everyone's earned trust in the repository. Cached for the session's transaction
    (recording an edge clears it), and across requests in this process by what the flow is
    computed from: a digest of the repository's edges, its seeds and its inactive accounts.
    The flow is the costly part (bench/trust.py); reading what it is made of is not."""
    cache = session.info.setdefault(CACHE_KEY, {})
    if repo.id in cache:
        return cache[repo.id]
    rows = session.execute(
        select(
            TrustEdge.truster_id, TrustEdge.trustee_id, TrustEdge.kind, func.sum(TrustEdge.amount)
        )
        .where(TrustEdge.repository_id == repo.id)
        .group_by(TrustEdge.truster_id, TrustEdge.trustee_id, TrustEdge.kind)
        .order_by(TrustEdge.truster_id, TrustEdge.trustee_id, TrustEdge.kind)
    ).all()
    seeds = _seeds(session, repo)
    inactive = _inactive(session, repo)
    strikes = _strikes(session, repo)
    digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
    key = (digest, frozenset(seeds), frozenset(inactive), frozenset(strikes.items()), rules)
    earned = _FLOWS.get(key)
    if earned is None:
        earned = _flow(rows, seeds, inactive, rules, strikes)
        _FLOWS.put(key, earned)
    cache[repo.id] = earned
    return earned


class _Recent:
    """The flows computed last in this process, a bounded number (oldest dropped first)."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key):
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key, value) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


_FLOWS = _Recent(64)


def _inactive(session: Session, repo: Repository) -> set[int]:
    """The suspended or pending accounts among the repository's trust edges: they are nobody."""
    involved = select(TrustEdge.truster_id).where(TrustEdge.repository_id == repo.id).union(
        select(TrustEdge.trustee_id).where(TrustEdge.repository_id == repo.id)
    )  # fmt: skip
    return set(
        session.scalars(
            select(User.id).where(
                User.id.in_(involved), or_(User.is_suspended.is_(True), User.is_pending.is_(True))
            )
        )
    )


def _strikes(session: Session, repo: Repository) -> dict[int, int]:
    """Each person's strikes in the repository: wrong answers on its audits, less right answers
    on its known-bad ones (people with none are left out).

    A careless reviewer who approves everything answers every known-good audit right and
    every known-bad one wrong, so only the known-bad ones may make up for a wrong answer.
    Strikes lower the ceiling of what a person may hold, whoever gave it: taking trust back
    only from the audit's maintainer left a careless reviewer what the other maintainers'
    merges gave them (bench/crowd)."""
    mine = TrustEdge.repository_id == repo.id
    failed = session.execute(
        select(TrustEdge.trustee_id, func.count())
        .where(mine, TrustEdge.kind == "audit_failed")
        .group_by(TrustEdge.trustee_id)
    ).all()
    if not failed:
        return {}
    caught = dict(
        session.execute(
            select(TrustEdge.trustee_id, func.count())
            .join(Audit, Audit.change_id == TrustEdge.change_id)
            .where(mine, TrustEdge.kind == "audit", Audit.expected == "bad")
            .group_by(TrustEdge.trustee_id)
        ).all()
    )
    strikes = {person: wrong - caught.get(person, 0) for person, wrong in failed}
    return {person: count for person, count in strikes.items() if count > 0}


def _flow(
    rows, seeds: set[int], inactive: set[int], rules: ReputationRules, strikes=None
) -> Earned:
    """Edmonds-Karp over the edge sums `rows` of (truster, trustee, kind, amount), then the
    vouches of people without a role: each lends from what they earned, so trust moves and
    never multiplies. `strikes` (person: count) lower the most a person may hold."""
    strikes = strikes or {}
    capacity: dict[tuple[int, int], float] = defaultdict(float)
    vouched: dict[int, dict[int, float]] = defaultdict(dict)
    for truster, trustee, kind, amount in rows:
        if truster in inactive or trustee in inactive or truster == trustee:
            continue
        if kind == "vouch" and truster not in seeds:
            vouched[truster][trustee] = float(amount or 0)
        else:
            capacity[(truster, trustee)] += float(amount or 0)
    people = sorted(
        ({p for edge in capacity for p in edge} | set(vouched))
        | {t for lent in vouched.values() for t in lent}
    )
    people = [p for p in people if p not in seeds]
    big = 10**12
    graph = _Graph()
    source, sink = ("s",), ("t",)
    for seed in sorted(seeds):
        graph.add(source, ("out", seed), big)
    for person in people:
        ceiling = rules.max_earned_trust - rules.trust_audit_failed * strikes.get(person, 0)
        graph.add(("in", person), sink, round(max(0.0, ceiling) * UNIT))
        graph.add(("in", person), ("out", person), big)
    for (truster, trustee), amount in sorted(capacity.items()):
        if trustee in seeds or amount <= 0:
            continue
        graph.add(("out", truster), ("in", trustee), round(amount * UNIT))
    graph.max_flow(source, sink)
    trust = {p: graph.flow(("in", p), sink) / UNIT for p in people}
    sources: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (truster, trustee), _amount in sorted(capacity.items()):
        carried = graph.flow(("out", truster), ("in", trustee)) / UNIT if trustee in trust else 0
        if carried > 0:
            sources[trustee].append((truster, carried))
    lent = _lend(vouched, trust, sources, seeds, rules)
    return Earned({p: t for p, t in trust.items() if t > 0}, dict(sources), lent)


def _lend(vouched, trust: dict, sources: dict, seeds: set[int], rules) -> dict[int, float]:
    """Move what people without a role vouched from their earned trust to whom they vouched
    for (never more than they hold, nor past what the other may hold)."""
    lent: dict[int, float] = {}
    for voucher in sorted(vouched):
        for trustee, amount in sorted(vouched[voucher].items()):
            if trustee in seeds:
                continue
            room = max(0.0, rules.max_earned_trust - trust.get(trustee, 0.0))
            moved = round(min(amount, trust.get(voucher, 0.0), room), 3)
            if moved <= 0:
                continue
            trust[voucher] -= moved
            trust[trustee] = trust.get(trustee, 0.0) + moved
            lent[voucher] = lent.get(voucher, 0.0) + moved
            sources[trustee].append((voucher, moved))
    return lent


class _Graph:
    """A residual graph for max-flow on whole-number capacities."""

    def __init__(self):
        self.capacity: dict = defaultdict(int)
        self.original: dict = {}
        self.neighbours: dict = defaultdict(list)

    def add(self, a, b, capacity: int) -> None:
        if capacity <= 0:
            return
        if (a, b) not in self.original:
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)
            self.original[(a, b)] = 0
        self.original[(a, b)] += capacity
        self.capacity[(a, b)] += capacity

    def flow(self, a, b) -> int:
        return self.original.get((a, b), 0) - self.capacity.get((a, b), 0)

    def max_flow(self, source, sink) -> int:
        total = 0
        while True:
            parent = {source: None}
            queue = deque([source])
            while queue and sink not in parent:
                node = queue.popleft()
                for nxt in self.neighbours[node]:
                    if nxt not in parent and self.capacity[(node, nxt)] > 0:
                        parent[nxt] = node
                        queue.append(nxt)
            if sink not in parent:
                return total
            path, node = [], sink
            while parent[node] is not None:
                path.append((parent[node], node))
                node = parent[node]
            pushed = min(self.capacity[edge] for edge in path)
            for a, b in path:
                self.capacity[(a, b)] -= pushed
                self.capacity[(b, a)] += pushed
            total += pushed


# --- reading ----------------------------------------------------------------------------------


def trusts_of(
    session: Session, repo: Repository, users: list[User], rules: ReputationRules
) -> dict[int, Trust]:
    """Each user's Trust in the repository (a few queries, whatever their number)."""
    if not users:
        return {}
    roles = roles_of(session, users, repo)
    earned = earned_in(session, repo, rules)
    names = _names(
        session, {truster for user in users for truster, _a in earned.sources.get(user.id, [])}
    )
    result = {}
    for user in users:
        role = roles[user.id]
        result[user.id] = Trust(
            role=role,
            granted=granted_trust(rules, role),
            earned=round(earned.trust.get(user.id, 0.0), 3),
            lent=round(earned.lent.get(user.id, 0.0), 3),
            suspended=user.is_suspended,
            sources=tuple(
                (names.get(truster, "?"), round(amount, 3))
                for truster, amount in sorted(
                    earned.sources.get(user.id, []), key=lambda item: -item[1]
                )
            ),
            rules=rules,
        )
    return result


def trust_of(session: Session, user: User | None, repo: Repository, rules: ReputationRules):
    if user is None:
        return Trust(None, rules=rules)
    return trusts_of(session, repo, [user], rules)[user.id]


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def holds_trust(session: Session, user: User, repo: Repository, rules: ReputationRules) -> bool:
    return trust_of(session, user, repo, rules).weight > 0


def forget(session: Session, repo: Repository | None = None) -> None:
    """Drop the cached flow (of one repository, or all) after its edges or roles changed."""
    cache = session.info.get(CACHE_KEY)
    if cache is None:
        return
    if repo is None:
        cache.clear()
    else:
        cache.pop(repo.id, None)
