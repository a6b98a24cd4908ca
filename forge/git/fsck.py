"""git's fsck message ids and severities for the checks forge makes on pushed objects.

Each problem `forge.git.integrity` finds is named by git's own msg-id (fsck.h,
FOREACH_FSCK_MSG_ID) and has git's default weight: what git counts an error is refused; what
git only warns about (or notes, git's "info") is let through and shown to the pusher as a
`remote: warning:` line, as C git does with `receive.fsckObjects` off. A site (`FORGE_FSCK`)
and each repository may set any of them to `error`, `warn` or `ignore`, as git's
`receive.fsck.<msg-id>`; the repository's setting wins over the site's.

Some can never be let through, whatever the settings: those git itself will not demote
(its fatal ones), forge's own checks with no git id, and the names a checkout must never
write. git lets `hasDotgit`, `hasDotdot`, `hasDot`, `emptyName` and `fullPathname` be
demoted, but forge refuses them always: its own checkouts (CI workspaces, archives) and every
older or non-C client that clones from it would write such a tree's `.git/config` or a path
outside the work tree, which is how a push becomes code run on someone else's machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ERROR, WARN, IGNORE = "error", "warn", "ignore"
SEVERITIES = (ERROR, WARN, IGNORE)

# msg-id -> (git's default type, what git says). git's FATAL and ERROR are refused, its WARN
# and INFO are warnings here (with receive.fsckObjects off C git says nothing at all).
MESSAGES: dict[str, tuple[str, str]] = {
    # trees
    "badTree": ("ERROR", "cannot be parsed as a tree"),
    "treeNotSorted": ("ERROR", "not properly sorted"),
    "duplicateEntries": ("ERROR", "contains duplicate file entries"),
    "zeroPaddedFilemode": ("WARN", "contains zero-padded file modes"),
    "badFilemode": ("INFO", "contains bad file modes"),
    "emptyName": ("WARN", "contains empty pathname"),
    "fullPathname": ("WARN", "contains full pathnames"),
    "hasDot": ("WARN", "contains '.'"),
    "hasDotdot": ("WARN", "contains '..'"),
    "hasDotgit": ("WARN", "contains '.git'"),
    # commits
    "missingTree": ("ERROR", "invalid format - expected 'tree' line"),
    "badTreeSha1": ("ERROR", "invalid 'tree' line format - bad sha1"),
    "badParentSha1": ("ERROR", "invalid 'parent' line format - bad sha1"),
    "missingAuthor": ("ERROR", "invalid format - expected 'author' line"),
    "missingCommitter": ("ERROR", "invalid format - expected 'committer' line"),
    # identities (author, committer, tagger)
    "missingNameBeforeEmail": (
        "ERROR",
        "invalid author/committer line - missing space before email",
    ),
    "missingEmail": ("ERROR", "invalid author/committer line - missing email"),
    "badName": ("ERROR", "invalid author/committer line - bad name"),
    "missingSpaceBeforeEmail": (
        "ERROR",
        "invalid author/committer line - missing space before email",
    ),
    "badEmail": ("ERROR", "invalid author/committer line - bad email"),
    "badDate": ("ERROR", "invalid author/committer line - bad date"),
    "badDateOverflow": (
        "ERROR",
        "invalid author/committer line - date causes integer overflow",
    ),
    # tags
    "missingObject": ("ERROR", "invalid format - expected 'object' line"),
    "badObjectSha1": ("ERROR", "invalid 'object' line format - bad sha1"),
    "missingTypeEntry": ("ERROR", "invalid format - expected 'type' line"),
    "badType": ("ERROR", "invalid 'type' value"),
    "missingTagEntry": ("ERROR", "invalid format - expected 'tag' line"),
    "badTagName": ("INFO", "invalid 'tag' name"),
    "missingTaggerEntry": ("INFO", "invalid format - expected 'tagger' line"),
    # forge's own, no git id: an object dulwich cannot read at all
    "badObject": ("FATAL", "cannot be parsed"),
}

# Refused whatever a site or repository sets. The names a checkout must not write: see the
# module's docstring. And what forge itself reads back from every object (pages, diffs,
# merges, the missing-object check): a tree it cannot parse, out of order or with a name
# twice, a commit without its tree, parents or author, a tag without what it tags. git lets
# an admin demote some of these; forge would only fail later, on someone else's page.
ALWAYS_REFUSED = frozenset(
    {
        "badObject",
        "badTree",
        "duplicateEntries",
        "treeNotSorted",
        "emptyName",
        "fullPathname",
        "hasDot",
        "hasDotdot",
        "hasDotgit",
        "missingTree",
        "badTreeSha1",
        "badParentSha1",
        "missingAuthor",
        "missingCommitter",
        "missingObject",
        "badObjectSha1",
        "missingTypeEntry",
        "badType",
    }
)

_CANONICAL = {name.lower(): name for name in MESSAGES}


def default_severity(msg_id: str) -> str:
    kind = MESSAGES[msg_id][0]
    return ERROR if kind in ("FATAL", "ERROR") or msg_id in ALWAYS_REFUSED else WARN


def parse_overrides(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """`"missingTaggerEntry=error,zeroPaddedFilemode=ignore"` (or the same as a mapping) as
    {msg-id: severity}; ValueError saying what is wrong with the first bad item."""
    if not text:
        return {}
    if isinstance(text, str):
        items = []
        for item in text.split(","):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{item.strip()!r} is not MSG_ID=SEVERITY")
            items.append((name, value))
    else:
        items = list(text.items())
    overrides: dict[str, str] = {}
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError("each msg-id and severity is a string")
        msg_id = _CANONICAL.get(name.strip().lower())  # git's ids ignore case, as its config
        if msg_id is None:
            raise ValueError(
                f"forge makes no check named {name.strip()[:60]!r}; it checks "
                + ", ".join(sorted(MESSAGES))
            )
        severity = value.strip().lower()
        if severity not in SEVERITIES:
            raise ValueError(
                f"{msg_id} must be one of {', '.join(SEVERITIES)}, not {value.strip()[:20]!r}"
            )
        if msg_id in ALWAYS_REFUSED and severity != ERROR:
            raise ValueError(f"{msg_id} cannot be set to {severity}: forge always refuses it")
        overrides[msg_id] = severity
    return overrides


def stored_overrides(text: str | None) -> dict[str, str]:
    """A repository's stored setting, item by item: one that no longer parses (a check
    renamed, a value written by hand) is skipped rather than failing every push."""
    overrides: dict[str, str] = {}
    for item in (text or "").split(","):
        try:
            overrides.update(parse_overrides(item))
        except ValueError:
            continue
    return overrides


def format_overrides(overrides: Mapping[str, str]) -> str:
    return ",".join(f"{name}={overrides[name]}" for name in sorted(overrides))


@dataclass(frozen=True)
class FsckPolicy:
    """The severity of each check for one push: git's default, the site's, the repository's."""

    site: Mapping[str, str] = field(default_factory=dict)
    repository: Mapping[str, str] = field(default_factory=dict)

    def severity(self, msg_id: str) -> str:
        # Asked here too, not only when a setting is made: a value written to the database
        # by hand must not let a `.git` tree in.
        if msg_id in ALWAYS_REFUSED:
            return ERROR
        return self.repository.get(msg_id) or self.site.get(msg_id) or default_severity(msg_id)

    def effective(self) -> dict[str, str]:
        return {msg_id: self.severity(msg_id) for msg_id in sorted(MESSAGES)}
