"""forge's commit-msg hook, served at /tools/hooks/commit-msg as Gerrit serves its own (so
`git review -s` installs it), and the command that installs it by hand.

The hook adds a `Change-Id: I<40 hex>` trailer to a commit message that has none, as Gerrit's
does; amending keeps it, so every version of a commit uploads as a patch set of one change.
"""

from __future__ import annotations

import re

CHANGE_ID_TRAILER = re.compile(rb"^Change-Id: (I[0-9a-f]{40})\s*$", re.MULTILINE)

HOOK = r"""#!/bin/sh
# forge's commit-msg hook: adds a Change-Id trailer to a commit message without one, as
# Gerrit's hook does, so that amending a commit and pushing it to refs/for/BRANCH again
# uploads a new patch set of the same change. Served at /tools/hooks/commit-msg.
# `git config gerrit.createChangeId false` turns it off in a repository.
set -e
msg="$1"

if [ "$(git config --bool gerrit.createChangeId || true)" = "false" ]; then
  exit 0
fi
# fixup! and squash! commits are folded into another by `git rebase --autosquash`.
if head -n 1 "$msg" | grep -q '^\(fixup\|squash\)! '; then
  exit 0
fi
# Already there (an amend): keep it, that is the whole point.
if git interpret-trailers --parse < "$msg" | grep -q '^Change-Id: I[0-9a-f]\{40\}$'; then
  exit 0
fi
# An empty message aborts the commit anyway; leave it empty.
if ! sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$msg" | grep -q .; then
  exit 0
fi
id=$(
  {
    git var GIT_COMMITTER_IDENT
    git var GIT_AUTHOR_IDENT
    git write-tree 2>/dev/null || true
    git rev-parse --verify -q HEAD || true
    cat "$msg"
    date +%s%N
    od -An -N16 -tx1 /dev/urandom 2>/dev/null || true
  } | git hash-object --stdin
)
git interpret-trailers --in-place --trailer "Change-Id: I$id" "$msg"
"""

PATH = "/tools/hooks/commit-msg"


def install_command(base_url: str) -> str:
    """One line that installs the hook in the current clone, wherever its hooks live."""
    return (
        f'f="$(git rev-parse --git-path hooks/commit-msg)"; '
        f'curl -fsSo "$f" {base_url.rstrip("/")}{PATH} && chmod +x "$f"'
    )


def change_id_of(message: bytes) -> str | None:
    """The last Change-Id trailer of a commit message, as Gerrit reads it."""
    found = CHANGE_ID_TRAILER.findall(message)
    return found[-1].decode() if found else None


def without_change_id(text: str) -> str:
    return CHANGE_ID_TRAILER.sub(b"", text.encode()).decode().strip()
