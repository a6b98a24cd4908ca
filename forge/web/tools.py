"""Files Gerrit serves under /tools that its clients fetch: the commit-msg hook, which
`git review -s` installs from /tools/hooks/commit-msg."""

from __future__ import annotations

from flask import Blueprint, Response

from forge.review.commit_msg_hook import HOOK, PATH

bp = Blueprint("tools", __name__)


@bp.get(PATH)
def commit_msg_hook():
    return Response(
        HOOK,
        mimetype="text/x-shellscript",
        headers={"Content-Disposition": 'attachment; filename="commit-msg"'},
    )
