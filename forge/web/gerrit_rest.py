"""The slice of Gerrit's REST API that git-review uses: `GET /changes/?q=...` (and `/a/changes/`,
Gerrit's authenticated prefix), answered in Gerrit's ChangeInfo shape behind its `)]}'` line.

Who calls: a signed-in browser session, or HTTP Basic with a forge token as the password (as
git sends for the clone); anonymous callers see public repositories. How a bare change number
finds its change is `forge.review.gerrit_query`'s to say.
"""

from __future__ import annotations

import base64
import json

from flask import Blueprint, Response, request

from forge.accounts.users import user_for_token
from forge.errors import Invalid
from forge.review import gerrit_query
from forge.web import external_url
from forge.web.context import db, viewer

bp = Blueprint("gerrit_rest", __name__)

XSSI_PREFIX = ")]}'\n"
STATUS = {"open": "NEW", "merged": "MERGED", "closed": "ABANDONED"}


def _gerrit_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f000") if value else None


def _caller():
    header = request.headers.get("Authorization", "")
    if not header:
        return viewer(), None
    scheme, _, value = header.partition(" ")
    secret = ""
    if scheme.lower() == "basic":
        try:
            secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            secret = ""
    elif scheme.lower() in ("bearer", "token"):
        secret = value.strip()
    found = user_for_token(db(), secret) if secret else None
    if found is None:
        return None, _text(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="forge"'})
    user, token = found
    # As for git and the API: a token without the `repo` scope sees public repositories only.
    return (user if "repo" in token.scope_list else None), None


def _text(status: int, message: str, headers: dict | None = None) -> Response:
    return Response(message.rstrip("\n") + "\n", status, headers, mimetype="text/plain")


def change_info(change, revisions: str | None) -> dict:
    repo = change.repository
    info = {
        "id": f"{repo.full_name.replace('/', '%2F')}~{change.base_branch}~"
        f"{change.gerrit_change_id or change.number}",
        "project": repo.full_name,
        "branch": change.base_branch,
        "change_id": change.gerrit_change_id,
        "subject": change.title,
        "status": STATUS[change.state],
        "created": _gerrit_time(change.created_at),
        "updated": _gerrit_time(change.updated_at),
        "_number": change.number,
        "owner": {
            "_account_id": change.author_id,
            "name": change.author.name,
            "username": change.author.name,
        },  # fmt: skip
        "hashtags": change.hashtag_list,
        "current_revision": change.head_sha,
    }
    if change.topic:
        info["topic"] = change.topic
    if change.work_in_progress:
        info["work_in_progress"] = True
    if change.private:
        info["is_private"] = True
    if revisions:
        shown = change.patch_sets if revisions == "ALL_REVISIONS" else [change.current_patch_set]
        url = external_url(f"/{repo.full_name}.git")
        info["revisions"] = {
            patch_set.head_sha: {
                "_number": patch_set.number,
                "ref": change.patch_set_ref(patch_set.number),
                "created": _gerrit_time(patch_set.created_at),
                "fetch": {
                    "anonymous http": {"url": url, "ref": change.patch_set_ref(patch_set.number)}
                },
            }
            for patch_set in shown
        }
    return info


@bp.get("/changes/")
@bp.get("/a/changes/")
def list_changes():
    user, refusal = _caller()
    if refusal is not None:
        return refusal
    if request.path.startswith("/a/") and user is None:
        return _text(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="forge"'})
    query = request.args.get("q", "status:open")
    wanted = set(request.args.getlist("o"))
    revisions = next((o for o in ("ALL_REVISIONS", "CURRENT_REVISION") if o in wanted), None)
    try:
        found = gerrit_query.search(db(), user, query)
    except Invalid as exc:
        return _text(400, exc.message)
    body = json.dumps([change_info(c, revisions) for c in found], indent=1)
    return Response(XSSI_PREFIX + body, 200, mimetype="application/json")
