"""Comments on pull requests: inline review comments (/pulls/{n}/comments, /pulls/comments/{id})
and conversation comments, which GitHub files under issues (/issues/{n}/comments,
/issues/comments/{id}). The same /issues paths serve the comments of issues (forge.issues):
a number that is an issue's, or a comment id above `COMMENT_ID_BASE`, goes there.
"""

from __future__ import annotations

from flask import jsonify

from forge.api import api
from forge.api import issues as issue_api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.pagination import paginate
from forge.api.pulls import check_commit_id, inline_comment, pull_of
from forge.api.shapes import pulls as pull_shapes
from forge.api.shapes.issues import COMMENT_ID_BASE
from forge.errors import Invalid
from forge.issues import tracker
from forge.models import Change
from forge.repos.repositories import get_repository
from forge.review import changes as change_service
from forge.review import positions
from forge.review import reviews as review_service
from forge.web.context import db, settings


def _change_of(comment) -> Change:
    return db().get(Change, comment.change_id)


def comment_json(change: Change, comment, placed: dict | None = None) -> dict:
    """A review comment placed in its file's diff (position, diff_hunk) as GitHub shows it."""
    if placed is None:
        placed = positions.placements(settings().repos_dir, change)
    return pull_shapes.review_comment(change, comment, placed)


# --- review comments ------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/pulls/<int:number>/comments")
def list_review_comments(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    found = review_service.comments_of(db(), change, repo_viewer())
    placed = positions.placements(settings().repos_dir, change)
    body, headers = paginate(found, lambda c: comment_json(change, c, placed))
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/pulls/<int:number>/comments")
def create_review_comment(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    in_reply_to = body_field(body, "in_reply_to", int)
    if in_reply_to is not None:
        comment = review_service.reply(
            db(), change, user, in_reply_to, body_field(body, "body", str, "")
        )
    else:
        check_commit_id(change, body_field(body, "commit_id", str))
        item = inline_comment(body, change)
        comment = review_service.add_comment(
            db(),
            settings().repos_dir,
            change,
            user,
            path=item["path"],
            line=item["line"],
            side=item["side"] or "RIGHT",
            body=item["body"],
            draft=False,
        )
    return jsonify(comment_json(change, comment)), 201


@api.post("/repos/<owner>/<name>/pulls/<int:number>/comments/<int:comment_id>/replies")
def reply_to_review_comment(owner: str, name: str, number: int, comment_id: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = body_field(json_body(), "body", str, "")
    comment = review_service.reply(db(), change, user, comment_id, body)
    return jsonify(comment_json(change, comment)), 201


def _review_comment(owner: str, name: str, comment_id: int):
    repo = get_repository(db(), owner, name, repo_viewer())
    return review_service.get_comment(db(), repo, comment_id, repo_viewer())


@api.get("/repos/<owner>/<name>/pulls/comments/<int:comment_id>")
def get_review_comment(owner: str, name: str, comment_id: int):
    comment = _review_comment(owner, name, comment_id)
    return jsonify(comment_json(_change_of(comment), comment))


@api.patch("/repos/<owner>/<name>/pulls/comments/<int:comment_id>")
def edit_review_comment(owner: str, name: str, comment_id: int):
    user = require_scope("repo")
    comment = _review_comment(owner, name, comment_id)
    change_service.edit_comment(db(), user, comment, body_field(json_body(), "body", str, ""))
    return jsonify(comment_json(_change_of(comment), comment))


@api.delete("/repos/<owner>/<name>/pulls/comments/<int:comment_id>")
def delete_review_comment(owner: str, name: str, comment_id: int):
    user = require_scope("repo")
    comment = _review_comment(owner, name, comment_id)
    review_service.delete_comment(db(), user, comment)
    return "", 204


# --- conversation comments (GitHub's issue comments) -----------------------------------------


@api.get("/repos/<owner>/<name>/issues/<int:number>/comments")
def list_issue_comments(owner: str, name: str, number: int):
    issue = _plain_issue(owner, name, number)
    if issue is not None:
        found = tracker.comments_of(db(), issue)
        body, headers = paginate(found, issue_api.comment_json)
        return jsonify(body), 200, headers
    _repo, change = pull_of(owner, name, number)
    found = change_service.conversation(db(), change)
    body, headers = paginate(found, lambda c: pull_shapes.issue_comment(change, c))
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/issues/<int:number>/comments")
def create_issue_comment(owner: str, name: str, number: int):
    user = require_scope("repo")
    issue = _plain_issue(owner, name, number)
    if issue is not None:
        text = body_field(json_body(), "body", str, "")
        comment = tracker.add_comment(db(), issue, user, text)
        return jsonify(issue_api.comment_json(comment)), 201
    _repo, change = pull_of(owner, name, number)
    comment = change_service.add_comment(
        db(), user, change, body_field(json_body(), "body", str, "")
    )
    return jsonify(pull_shapes.issue_comment(change, comment)), 201


def _plain_issue(owner: str, name: str, number: int):
    """The issue numbered so (not a change), or None."""
    repo = get_repository(db(), owner, name, repo_viewer())
    return tracker.find_issue(db(), repo, number)


def _issue_comment(owner: str, name: str, comment_id: int):
    """A change's conversation comment, or an issue's (ids from COMMENT_ID_BASE on)."""
    repo = get_repository(db(), owner, name, repo_viewer())
    if comment_id >= COMMENT_ID_BASE:
        return tracker.get_comment(db(), repo, repo_viewer(), comment_id - COMMENT_ID_BASE)
    return change_service.get_comment(db(), repo, comment_id)


def _comment_json(comment) -> dict:
    if isinstance(comment, tracker.IssueComment):
        return issue_api.comment_json(comment)
    return pull_shapes.issue_comment(_change_of(comment), comment)


@api.get("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
def get_issue_comment(owner: str, name: str, comment_id: int):
    return jsonify(_comment_json(_issue_comment(owner, name, comment_id)))


@api.patch("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
def edit_issue_comment(owner: str, name: str, comment_id: int):
    user = require_scope("repo")
    comment = _issue_comment(owner, name, comment_id)
    text = body_field(json_body(), "body", str, "")
    if isinstance(comment, tracker.IssueComment):
        tracker.edit_comment(db(), comment, user, text)
    else:
        change_service.edit_comment(db(), user, comment, text)
    return jsonify(_comment_json(comment))


@api.delete("/repos/<owner>/<name>/issues/comments/<int:comment_id>")
def delete_issue_comment(owner: str, name: str, comment_id: int):
    user = require_scope("repo")
    comment = _issue_comment(owner, name, comment_id)
    if isinstance(comment, tracker.IssueComment):
        tracker.delete_comment(db(), comment, user)
    else:
        change_service.delete_comment(db(), user, comment)
    return "", 204


@api.get("/repos/<owner>/<name>/issues/comments/<int:comment_id>/reactions")
def list_issue_comment_reactions(owner: str, name: str, comment_id: int):
    comment = _issue_comment(owner, name, comment_id)
    if not isinstance(comment, tracker.IssueComment):
        return jsonify([]), 200  # a change's comment: forge keeps no reactions on those
    return issue_api.issue_comment_reactions(comment)


@api.post("/repos/<owner>/<name>/issues/comments/<int:comment_id>/reactions")
def create_issue_comment_reaction(owner: str, name: str, comment_id: int):
    user = require_scope("repo")
    comment = _issue_comment(owner, name, comment_id)
    if not isinstance(comment, tracker.IssueComment):
        raise Invalid("reactions are kept on issues and their comments only", field="content")
    content = body_field(json_body(), "content", str)
    return issue_api.issue_comment_reactions(comment, user, content, "POST")
