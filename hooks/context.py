"""What a hook sees of a ref change: who, where, which refs, and a way to talk to the user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.repo import Repo
from sqlalchemy.orm import Session

from forge.git.refs import RefUpdate
from forge.models import Repository, User


class Refused(Exception):
    """A pre-receive check refuses the change; the message tells the user why."""


@dataclass
class PushContext:
    session: Session
    repository: Repository
    git: Repo
    pusher: User | None
    role: str | None
    updates: list[RefUpdate]
    say: Callable[[str], None]
    base_url: str
    via: str = "push"
    options: dict[str, str] = field(default_factory=dict)
    max_object_bytes: int = 100 * 1024 * 1024
    enqueue: Callable[..., object] | None = None
    repos_dir: Path | None = None
    # The site's push protection and the key of its links (forge.repos.push_protection).
    push_protection: bool = True
    signing_key: str = field(default="", repr=False)
    # Set when the refs move because a change is merged: the change, and how many reviewers
    # approve its current head (for required reviews).
    change: object | None = None
    approvals: int = 0
    # Filled by checks for the actions that follow (e.g. which updates were forced).
    forced: set[str] = field(default_factory=set)
