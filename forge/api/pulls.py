"""Pull requests (forge's changes) and their reviews: /repos/{o}/{r}/pulls[...].

A pull request here is a change: opened from a branch, a fork's branch or an upload to
refs/for/BRANCH, merged three ways through the same ref checks as a push.
"""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts.permissions import require
from forge.accounts.users import users_by_email
from forge.api import api, media
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.shapes import pulls as pull_shapes
from forge.api.shapes import repos as repo_shapes
from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import merge_queue, merging
from forge.repos import contents as content_service
from forge.repos import history
from forge.repos.refs import RefChangeSettings
from forge.repos.repositories import get_repository
from forge.review import changes as change_service
from forge.review import drafts, positions, review_requests
from forge.review import reviews as review_service
from forge.review.gerrit_query import may_see
from forge.web import external_url
from forge.web.context import db, redis_connection, settings

# GitHub's list filter -> the states of list_changes.
STATE_FILTERS = {"open": "open", "closed": "closed_or_merged", "all": "all"}
STALE_HEAD = "Head branch was modified. Review and try the merge again."
NOT_MERGEABLE = "Pull Request is not mergeable"


def pull_of(owner: str, name: str, number: int):
    """The repository (readable by the caller, else 404) and its change #number."""
    repo = get_repository(db(), owner, name, repo_viewer())
    change = change_service.get_change(db(), repo, number)
    if not may_see(db(), repo_viewer(), change):  # a private change (Gerrit's %private)
        raise NotFound(f"change #{number} not found in {repo.full_name}")
    return repo, change


def pull_json(change) -> dict:
    """A single pull request, with the counts and mergeability a list leaves out."""
    repos_dir = settings().repos_dir
    merge_state = merging.mergeability(repos_dir, change) if change.state == "open" else None
    return pull_shapes.pull_request(
        change,
        stats=content_service.change_stats(repos_dir, change),
        merge_state=merge_state,
        comments=len(change_service.conversation(db(), change)),
        review_comments=len(review_service.comments_of(db(), change, repo_viewer())),
        requested_reviewers=review_requests.requested(db(), change),
    )


def commit_json(repo, commits: list, detail=None) -> list[dict]:
    emails = {p.email for c in commits for p in (c.author, c.committer)}
    people = users_by_email(db(), emails)
    return [repo_shapes.commit(repo, info, people, detail) for info in commits]


@api.get("/repos/<owner>/<name>/pulls")
def list_pulls(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    state = request.args.get("state", "open")
    if state not in STATE_FILTERS:
        raise Invalid("state must be open, closed or all", field="state")
    head_owner, head_branch = None, request.args.get("head") or None
    if head_branch and ":" in head_branch:
        head_owner, head_branch = head_branch.split(":", 1)
    found = change_service.list_changes(
        db(),
        repo,
        state=STATE_FILTERS[state],
        base=request.args.get("base") or None,
        head_branch=head_branch,
    )
    if head_owner is not None:
        found = [
            c
            for c in found
            if c.head_repository is not None
            and c.head_repository.owner.name.lower() == head_owner.lower()
        ]
    found = [c for c in found if may_see(db(), repo_viewer(), c)]
    if request.args.get("direction") == "asc":
        found.reverse()
    body, headers = paginate(found, pull_shapes.pull_request)
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/pulls")
def create_pull(owner: str, name: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, repo_viewer())
    body = json_body()
    head, base = body_field(body, "head", str), body_field(body, "base", str)
    if not head:
        raise Invalid("head is required: a branch, or owner:branch for a fork", field="head")
    if not base:
        raise Invalid("base is required: the branch to merge into", field="base")
    head_owner, _, branch = head.rpartition(":")
    if head_owner.lower() == repo.owner.name.lower():
        head = branch  # "owner:branch" naming this repository itself
    change = change_service.open_change(
        db(),
        settings().repos_dir,
        repo,
        user,
        title=body_field(body, "title", str, "") or "",
        base=base,
        head=head,
        description=body_field(body, "body", str, "") or "",
        draft=bool(body_field(body, "draft", bool)),
    )
    return jsonify(pull_json(change)), 201


@api.get("/repos/<owner>/<name>/pulls/<int:number>")
def get_pull(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    kind = media.wanted()
    if kind in ("diff", "patch"):
        data = history.change_diff(settings().repos_dir, change, as_patch=kind == "patch")
        return media.text(data, kind)
    return jsonify(pull_json(change))


@api.patch("/repos/<owner>/<name>/pulls/<int:number>")
def update_pull(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    title, text = body_field(body, "title", str), body_field(body, "body", str)
    state, base = body_field(body, "state", str), body_field(body, "base", str)
    if state not in (None, "open", "closed"):
        raise Invalid("state must be open or closed", field="state")
    if base is not None and base != change.base_branch:
        raise Invalid("the base branch of a pull request cannot be changed", field="base")
    if title is not None or text is not None:
        change_service.edit_change(db(), user, change, title=title, description=text)
    draft = body_field(body, "draft", bool)
    if draft is not None:  # not in GitHub's REST (its GraphQL marks ready): forge takes it here
        drafts.set_draft(db(), user, change, draft)
    if state == "closed" and change.state == "open":
        change_service.close_change(db(), user, change)
    elif state == "open" and change.state != "open":
        change_service.reopen_change(db(), settings().repos_dir, user, change)
    db().flush()
    return jsonify(pull_json(change))


# --- merging --------------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/pulls/<int:number>/merge")
def is_merged(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    if change.state != "merged":
        raise ApiError(404, "Not Found")
    return "", 204


@api.put("/repos/<owner>/<name>/pulls/<int:number>/merge")
def merge_pull(owner: str, name: str, number: int):
    user = require_scope("repo")
    repo, change = pull_of(owner, name, number)
    require(db(), user, "write", repo)
    body = json_body()
    method = body_field(body, "merge_method", str, "merge") or "merge"
    sha = body_field(body, "sha", str)
    if change.state != "open":
        raise ApiError(405, NOT_MERGEABLE)
    if sha and sha != change.head_sha:
        raise ApiError(409, STALE_HEAD)
    config = RefChangeSettings.build(settings(), redis_connection(), external_url(""))
    try:
        submitted = merge_queue.submit(
            db(),
            settings().repos_dir,
            user,
            change,
            method,
            config,
            expected_head_sha=sha,
            commit_title=body_field(body, "commit_title", str),
            commit_message=body_field(body, "commit_message", str),
            via="api",
            base_url=external_url(""),
        )
    except Invalid as exc:
        if exc.field == "sha":
            raise ApiError(409, STALE_HEAD) from None
        if exc.field == "merge_method":
            raise
        # Conflicts, unmet requirements, a moved base, a place taken: not mergeable now.
        raise ApiError(405, f"{NOT_MERGEABLE}: {exc.message}") from None
    except Forbidden as exc:  # the writer may merge, but the branch's protection refused
        raise ApiError(405, exc.message) from None
    if submitted.entry is not None:
        # With the queue on, a merge is a place in it, as on the web (202, not merged yet).
        position = merge_queue.position_of(db(), submitted.entry)
        return jsonify(pull_shapes.queued_merge_result(change, position)), 202
    return jsonify(pull_shapes.merge_result(submitted.merged_sha))


# --- what the pull request changes ----------------------------------------------------------


@api.get("/repos/<owner>/<name>/pulls/<int:number>/files")
def pull_files(owner: str, name: str, number: int):
    repo, change = pull_of(owner, name, number)
    files = content_service.change_files(settings().repos_dir, change)
    body, headers = paginate(files, lambda f: repo_shapes.file_patch(repo, change.head_sha, f))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/pulls/<int:number>/commits")
def pull_commits(owner: str, name: str, number: int):
    repo, change = pull_of(owner, name, number)
    commits = content_service.change_commits(settings().repos_dir, change)
    body, headers = paginate(commits, lambda c: commit_json(repo, [c])[0])
    return jsonify(body), 200, headers


# --- reviews --------------------------------------------------------------------------------


def check_commit_id(change, commit_id) -> None:
    if commit_id is not None and commit_id != change.head_sha:
        raise Invalid(
            f"commit_id must be the pull request's head commit ({change.head_sha}); "
            "comments are placed on the latest patch set",
            field="commit_id",
        )


def inline_comment(item, change) -> dict:
    """One comment of a review, placed by `line` (and `side`) in the file, or by GitHub's
    older `position` in the file's diff."""
    if not isinstance(item, dict):
        raise Invalid("each comment must be an object with path, line and body", "comments")
    for key, kind in (("path", str), ("body", str), ("line", int), ("side", str)):
        body_field(item, key, kind)
    line, side = item.get("line"), item.get("side")
    if line is None:
        if item.get("position") is None:
            raise Invalid(
                "each comment needs a line (a line number in the file) or a position "
                "(its place in the file's diff)",
                field="line",
            )
        line, side = positions.line_at_position(
            settings().repos_dir, change, item.get("path"), item["position"]
        )
    return {"path": item.get("path"), "line": line, "side": side, "body": item.get("body")}


@api.post("/repos/<owner>/<name>/pulls/<int:number>/reviews")
def create_review(owner: str, name: str, number: int):
    user = require_scope("repo")
    _repo, change = pull_of(owner, name, number)
    body = json_body()
    check_commit_id(change, body_field(body, "commit_id", str))
    comments = body_field(body, "comments", list, []) or []
    review = review_service.submit_review(
        db(),
        settings().repos_dir,
        change,
        user,
        body_field(body, "event", str, "") or "",
        body=body_field(body, "body", str, "") or "",
        comments=[inline_comment(item, change) for item in comments],
    )
    return jsonify(pull_shapes.review(change, review))


@api.get("/repos/<owner>/<name>/pulls/<int:number>/reviews")
def list_reviews(owner: str, name: str, number: int):
    _repo, change = pull_of(owner, name, number)
    found = review_service.reviews_of(db(), change, repo_viewer())
    body, headers = paginate(found, lambda r: pull_shapes.review(change, r))
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/pulls/<int:number>/reviews/<int:review_id>")
def get_review(owner: str, name: str, number: int, review_id: int):
    _repo, change = pull_of(owner, name, number)
    review = review_service.get_review(db(), change, review_id, repo_viewer())
    return jsonify(pull_shapes.review(change, review))


@api.get("/repos/<owner>/<name>/pulls/<int:number>/reviews/<int:review_id>/comments")
def review_comments(owner: str, name: str, number: int, review_id: int):
    _repo, change = pull_of(owner, name, number)
    review = review_service.get_review(db(), change, review_id, repo_viewer())
    found = review_service.comments_of_review(db(), review)
    placed = positions.placements(settings().repos_dir, change)
    body, headers = paginate(found, lambda c: pull_shapes.review_comment(change, c, placed))
    return jsonify(body), 200, headers
