"""What an upload's push options ask of the quality gate: `l=Label+N` votes, given with the
same privileges as in the browser (`forge.gate.votes.record_vote`), and `submit`, which merges
the change when its submit requirements allow it and otherwise refuses the whole push, saying
why, as Gerrit's `%submit` does.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from forge.errors import ForgeError, Invalid
from forge.gate import merging
from forge.gate.votes import record_vote
from forge.models import User
from forge.repos.refs import RefChangeSettings
from forge.review.uploads import Upload


def follow_uploads(
    session: Session,
    pusher: User,
    uploads: list[Upload],
    config: RefChangeSettings,
    say: Callable[[str], None],
) -> None:
    for upload in uploads:
        for label, value in upload.options.labels:
            record_vote(session, pusher, upload.change, label, value, via="push")
            say(f"  {label}{value:+d} on change #{upload.change.number}")
    # Parents first (the uploads come in chain order), as a child cannot merge before them.
    for upload in uploads:
        if not upload.options.submit:
            continue
        change = upload.change
        if change.work_in_progress:
            raise Invalid(
                f"change #{change.number} is work in progress and cannot be submitted; "
                "push with %ready,submit"
            )
        try:
            merging.merge_change(
                session, config.repos_dir, change, pusher, "merge", config, via="push"
            )
        except ForgeError as exc:
            raise Invalid(f"change #{change.number} cannot be submitted: {exc.message}") from None
        say(f"Submitted change #{change.number}: merged into {change.base_branch}")
