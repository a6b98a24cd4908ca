"""Push protection, as GitHub's: the files a push adds are scanned for credentials
(`secret_scanning`), and a push carrying one is refused whole, with `remote:` lines naming
each secret's kind, file, line and commit and a link where the pusher may allow that secret
(a false positive, used in tests, or to be fixed later). Once allowed, the same secret passes
in that repository; who allowed it and why is kept for the repository's admins.

Every ref change passes here (`hooks/checks.py` for branches, tags and the contents API,
`forge.review.pushes` for uploads to refs/for/*). A change being merged is not scanned
again: its commits were, when they were pushed. The scan is bounded (MAX_FILE_BYTES a file,
MAX_SCANNED_BYTES a push); what it skips it says.

A repository's own switch (`Repository.push_protection`) wins over the site's
(FORGE_PUSH_PROTECTION, on unless set off), so new repositories are protected by default,
public or private: a leaked key costs the same in either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from dulwich.repo import Repo
from sqlalchemy import select
from sqlalchemy.orm import Session

from forge.accounts.permissions import require
from forge.db import added_once, utcnow
from forge.errors import Forbidden, Invalid, NotFound
from forge.git.integrity import format_size
from forge.git.pushed_blobs import added_blobs, blob_size, new_commits
from forge.git.refs import RefUpdate
from forge.models import Repository, SecretBypass, User
from forge.repos.secret_scanning import find_secrets, looks_binary

# GitHub's three answers to "why is this secret allowed?".
REASONS = {
    "false_positive": "It's a false positive",
    "used_in_tests": "It's used in tests",
    "will_fix_later": "I'll fix it later",
}
# A file larger than this is not scanned (GitHub's push protection skips large files too);
# nor are a push's older files once its newest had this much scanned, so that a long
# history's first push costs bounded time (flask's whole history is 164 MB of text: scanned
# whole, it doubled the push; bench/README.md).
MAX_FILE_BYTES = 1024 * 1024
MAX_SCANNED_BYTES = 16 * 1024 * 1024
# And of a push of more commits, the trees of the newest this many are walked (reading every
# tree of flask's 5,572 commits took longer than scanning 16 MiB).
MAX_WALKED_COMMITS = 1000
# Secrets named one by one in a refusal; the rest are counted.
LISTED_SECRETS = 10
UNBLOCK_PATH = "security/secret-scanning/unblock-secret"


@dataclass(frozen=True)
class Finding:
    kind: str
    rule_id: str
    path: str
    line: int
    commit: str
    fingerprint: str


@dataclass
class Scan:
    findings: list[Finding] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    binary: int = 0
    unscanned: int = 0  # files of the oldest commits, left once the budget was spent
    unwalked_commits: int = 0  # the oldest commits of a long push, whose trees were not read
    scanned_bytes: int = 0


def is_enabled(repository: Repository, site_default: bool) -> bool:
    if repository.push_protection is None:
        return site_default
    return repository.push_protection


def scan_updates(
    git: Repo,
    updates: list[RefUpdate],
    max_file_bytes: int = MAX_FILE_BYTES,
    max_scanned_bytes: int = MAX_SCANNED_BYTES,
    max_walked_commits: int = MAX_WALKED_COMMITS,
) -> Scan:
    """Scan what `updates` add (their objects visible in `git`, its refs not yet moved)."""
    scan = Scan()
    store = git.object_store
    # Newest first, so that when a long history's first push outruns the budget, what goes
    # unscanned is its oldest files, not what the pusher just wrote.
    live = [u for u in updates if not u.deleted]
    commits = new_commits(git, [u.new for u in live], [u.old for u in live])
    scan.unwalked_commits = max(len(commits) - max_walked_commits, 0)
    blobs = list(added_blobs(git, commits, newest=max_walked_commits))
    for index, blob in enumerate(reversed(blobs)):
        size, data = blob_size(store, blob.sha), None
        if size is None:  # a loose object: its size is known once read
            data = store.get_raw(blob.sha)[1]
            size = len(data)
        if size > max_file_bytes:
            scan.too_large.append(blob.path)
            continue
        if scan.scanned_bytes + size > max_scanned_bytes:
            scan.unscanned = len(blobs) - index
            break
        if data is None:
            data = store.get_raw(blob.sha)[1]
        if looks_binary(data):
            scan.binary += 1
            continue
        scan.scanned_bytes += len(data)
        for secret in find_secrets(data, blob.path):
            scan.findings.append(
                Finding(
                    secret.kind,
                    secret.rule_id,
                    blob.path,
                    secret.line,
                    blob.commit,
                    secret.fingerprint,
                )
            )
    return scan


def check_push(
    session: Session,
    git: Repo,
    repository: Repository,
    pusher: User | None,
    updates: list[RefUpdate],
    *,
    site_default: bool,
    base_url: str,
    signing_key: str,
    say: Callable[[str], None],
) -> str | None:
    """Why the push is refused (the `remote:` lines), or None to let it on. What the scan
    skipped is said through `say` either way."""
    if not is_enabled(repository, site_default) or all(u.deleted for u in updates):
        return None
    scan = scan_updates(git, updates)
    for line in _skipped_lines(scan):
        say(line)
    allowed = set(
        session.scalars(
            select(SecretBypass.fingerprint).where(SecretBypass.repository_id == repository.id)
        )
    )
    blocking = [f for f in scan.findings if f.fingerprint not in allowed]
    if not blocking:
        return None
    return _refusal(blocking, repository, pusher, base_url, signing_key)


def _skipped_lines(scan: Scan) -> list[str]:
    lines = []
    if scan.too_large:
        named = ", ".join(scan.too_large[:3]) + (", ..." if len(scan.too_large) > 3 else "")
        lines.append(
            f"push protection: {len(scan.too_large)} file(s) over "
            f"{format_size(MAX_FILE_BYTES)} not scanned for secrets: {named}"
        )
    if scan.unscanned:
        lines.append(
            f"push protection: {scan.unscanned} file(s) of the oldest commits not scanned for "
            f"secrets: {format_size(MAX_SCANNED_BYTES)} of the newest were, the most a push gets"
        )
    if scan.unwalked_commits:
        lines.append(
            f"push protection: the files of the oldest {scan.unwalked_commits} of this push's "
            f"commits were scanned only as far as the newest {MAX_WALKED_COMMITS} still hold them"
        )
    return lines


def _refusal(
    findings: list[Finding],
    repository: Repository,
    pusher: User | None,
    base_url: str,
    signing_key: str,
) -> str:
    by_secret: dict[str, list[Finding]] = {}
    for finding in findings:
        by_secret.setdefault(finding.fingerprint, []).append(finding)
    lines = [
        "error: push protection: this push contains secrets; nothing was changed.",
        "",
    ]
    for places in list(by_secret.values())[:LISTED_SECRETS]:
        first = places[0]
        lines.append(f"  {first.kind}")
        for place in places[:3]:
            lines.append(f"    {place.path}:{place.line} (commit {place.commit[:12]})")
        if len(places) > 3:
            lines.append(f"    and {len(places) - 3} more places")
        if pusher is not None:
            token = sign_request(signing_key, repository.id, pusher.id, first)
            page = f"{base_url.rstrip('/')}/{repository.full_name}/{UNBLOCK_PATH}/{token}"
            lines.append(f"    to allow this secret: {page}")
        lines.append("")
    if len(by_secret) > LISTED_SECRETS:
        lines.append(f"  and {len(by_secret) - LISTED_SECRETS} more secrets")
        lines.append("")
    lines.append("Remove the secrets from the commits (git commit --amend, or git rebase -i for")
    lines.append("older ones) and push again; or, if a secret is a false positive, used in tests")
    lines.append("or one you will fix later, allow it at its link and push again.")
    return "\n".join(lines)


# --- the link a refusal gives, and allowing a secret through it ------------------------------


@dataclass(frozen=True)
class BypassRequest:
    """What a refusal's link stands for: this pusher may allow this secret in this repository."""

    repository_id: int
    user_id: int
    fingerprint: str
    rule_id: str
    kind: str
    path: str
    line: int
    commit: str


def _mac(signing_key: str, payload: bytes) -> str:
    key = hashlib.sha256(b"forge push protection\0" + signing_key.encode()).digest()
    digest = hmac.new(key, payload, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def sign_request(signing_key: str, repository_id: int, user_id: int, finding: Finding) -> str:
    """A link's token: the finding, signed so that nobody can make up one for another secret
    or another user (it carries a hash of the secret, never the secret)."""
    fields = [
        repository_id,
        user_id,
        finding.fingerprint,
        finding.rule_id,
        finding.kind,
        finding.path,
        finding.line,
        finding.commit,
    ]
    payload = json.dumps(fields, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_mac(signing_key, payload)}"


def read_request(signing_key: str, token: str) -> BypassRequest:
    """The request a link's token stands for; Invalid for one forge did not sign."""
    body, _, mac = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("this link is not one forge gave; push again for a new one") from None
    if not hmac.compare_digest(mac, _mac(signing_key, payload)):
        raise Invalid("this link is not one forge gave; push again for a new one")
    return BypassRequest(*json.loads(payload))


def find_request(session: Session, repository: Repository, user: User, token: str, key: str):
    """The link's request, for the one it was given to; NotFound for another repository's."""
    request = read_request(key, token)
    if request.repository_id != repository.id:
        raise NotFound("this link belongs to another repository")
    if request.user_id != user.id:
        raise Forbidden(
            "this link was given to the pusher whose push was refused; only they may use it"
        )
    return request


def allowed_bypass(session: Session, repository: Repository, fingerprint: str):
    return session.scalar(
        select(SecretBypass).where(
            SecretBypass.repository_id == repository.id, SecretBypass.fingerprint == fingerprint
        )
    )


def allow_secret(
    session: Session, repository: Repository, user: User, request: BypassRequest, reason: str
) -> SecretBypass:
    """Let the secret `request` names into `repository` from now on, recording who and why.
    Allowing one already allowed keeps the first record."""
    require(session, user, "read", repository)
    if reason not in REASONS:
        raise Invalid(f"choose a reason: {', '.join(REASONS)}", field="reason")
    existing = allowed_bypass(session, repository, request.fingerprint)
    if existing is not None:
        return existing
    bypass = SecretBypass(
        repository_id=repository.id,
        fingerprint=request.fingerprint,
        rule_id=request.rule_id,
        reason=reason,
        path=f"{request.path}:{request.line}",
        commit_sha=request.commit,
        created_by=user,
        created_at=utcnow(),
    )
    if not added_once(session, bypass):  # allowed at the same moment from another tab
        return allowed_bypass(session, repository, request.fingerprint)
    return bypass


def bypasses(session: Session, actor: User, repository: Repository) -> list[SecretBypass]:
    """The secrets allowed into the repository, newest first: for its admins."""
    require(session, actor, "admin", repository)
    return list(
        session.scalars(
            select(SecretBypass)
            .where(SecretBypass.repository_id == repository.id)
            .order_by(SecretBypass.id.desc())
        )
    )


def set_enabled(
    session: Session, repository: Repository, actor: User, enabled: bool | None
) -> None:
    """Switch push protection on or off for the repository, or (None) back to the site's."""
    require(session, actor, "admin", repository)
    repository.push_protection = enabled
    repository.updated_at = utcnow()
    session.flush()
