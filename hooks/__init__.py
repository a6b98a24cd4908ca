"""Receive hooks: what every ref change in forge passes through, however it is made.

A git push, a merge in the browser and an API call all end in
`forge.repos.refs.update_refs`, which runs the pre-receive checks here (any of them may
refuse the whole change with a reason the user sees) and, once the refs moved, the
post-receive actions. Each check and action is a small function of a `PushContext`; to add
one, write it in `checks.py` or `actions.py` and list it below.

forge loads this package from its place beside `forge/`, as `forge._hooks` (see
`forge/receive_hooks.py`), so that a folder named `hooks` where forge is started cannot stand
in for it. Modules here import each other relatively (`from .context import PushContext`),
never as `hooks.*`, which would look the name up on `sys.path` again.
"""

import logging

from forge.db import unavailable_reason

from .actions import POST_RECEIVE
from .checks import PRE_RECEIVE
from .context import PushContext, Refused

log = logging.getLogger(__name__)

__all__ = [
    "POST_RECEIVE",
    "PRE_RECEIVE",
    "PushContext",
    "Refused",
    "run_post_receive",
    "run_pre_receive",
]


def run_pre_receive(context: PushContext) -> None:
    for check in PRE_RECEIVE:
        check(context)


def run_post_receive(context: PushContext) -> None:
    # The refs have moved already: an action that fails must not make the change look failed.
    for action in POST_RECEIVE:
        try:
            action(context)
        except Exception as exc:
            if unavailable_reason(exc) is not None:
                # The database went away: nothing of this change can be recorded, whatever
                # the other actions do; `update_refs` puts the refs back and the caller says so.
                raise
            log.exception("post-receive action %s failed", action.__name__)
            context.say(f"warning: {action.__name__.replace('_', ' ')} failed; see the server log")
