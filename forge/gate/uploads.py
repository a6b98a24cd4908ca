"""What an upload's push options ask of the quality gate: `l=Label+N` votes, given with the
same privileges as in the browser (`forge.gate.votes.record_vote`), and `submit`, which merges
the change when its submit requirements allow it and otherwise refuses the whole push, saying
why, as Gerrit's `%submit` does.

`submit` takes the change's whole topic with it (Gerrit's `change.submitWholeTopic`), as
`forge.gate.topics` decides for every way of merging.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from forge.errors import ForgeError, Invalid
from forge.gate import topics
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
    asked = [upload.change for upload in uploads if upload.options.submit]
    if not asked:
        return
    batch = topics.submission(session, asked)
    try:
        topics.merge_together(
            session, config.repos_dir, pusher, batch, "merge", config, via="push"
        )  # fmt: skip
    except ForgeError as exc:
        raise Invalid(exc.message) from None
    for change in batch:
        say(f"Submitted change #{change.number}: merged into {change.base_branch}")
