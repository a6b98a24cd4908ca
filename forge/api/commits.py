"""A repository's history: GET /repos/{o}/{r}/commits (filtered, paged), one commit,
compare BASE...HEAD, languages and contributors. A commit and a comparison answer a diff or
a patch for GitHub's `.diff` and `.patch` media types."""

from __future__ import annotations

from flask import jsonify, request

from forge.accounts.users import find_user, users_by_email
from forge.api import api, media
from forge.api.auth import repo_viewer
from forge.api.bodies import iso_time
from forge.api.pagination import link_header, page_args, paginate
from forge.api.pulls import commit_json
from forge.api.shapes import history as history_shapes
from forge.repos import contents as content_service
from forge.repos import history
from forge.repos.repositories import get_repository
from forge.web.context import db, settings


def _moment(name: str) -> int | None:
    """An ISO 8601 query parameter as seconds since the epoch."""
    when = iso_time(request.args.get(name), name)
    return None if when is None else int(when.timestamp())


def _author_emails(author: str | None) -> set[str] | None:
    """GitHub's `author` is an account's login or an email address."""
    if not author:
        return None
    if "@" in author:
        return {author}
    user = find_user(db(), author)
    return {user.email} if user is not None else set()


@api.get("/repos/<owner>/<name>/commits")
def list_commits(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    per_page, page = page_args()
    found = history.list_commits(
        settings().repos_dir,
        repo,
        ref=request.args.get("sha") or None,
        path=request.args.get("path", ""),
        author_emails=_author_emails(request.args.get("author")),
        since=_moment("since"),
        until=_moment("until"),
        page=page,
        per_page=per_page,
    )
    body = commit_json(repo, found.commits)
    return jsonify(body), 200, link_header(page, per_page, has_next=found.more)


@api.get("/repos/<owner>/<name>/commits/<sha>")
def get_commit(owner: str, name: str, sha: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    kind = media.wanted()
    if kind in ("diff", "patch"):
        data = history.commit_diff(settings().repos_dir, repo, sha, as_patch=kind == "patch")
        return media.text(data, kind)
    detail = content_service.commit_detail(settings().repos_dir, repo, sha)
    return jsonify(commit_json(repo, [detail.commit], detail)[0])


@api.get("/repos/<owner>/<name>/compare/<path:basehead>")
def compare(owner: str, name: str, basehead: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    kind = media.wanted()
    if kind in ("diff", "patch"):
        data = history.compare_diff(settings().repos_dir, repo, basehead, as_patch=kind == "patch")
        return media.text(data, kind)
    found = history.compare(settings().repos_dir, repo, basehead)
    ends = commit_json(repo, [found.base_commit, *([found.merge_base] if found.merge_base else [])])
    body = history_shapes.comparison(
        repo,
        basehead,
        found,
        base_commit=ends[0],
        merge_base_commit=ends[1] if found.merge_base else None,
        commits=commit_json(repo, found.commits),
    )
    return jsonify(body)


@api.get("/repos/<owner>/<name>/languages")
def languages(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    return jsonify(history.languages(settings().repos_dir, repo))


@api.get("/repos/<owner>/<name>/contributors")
def contributors(owner: str, name: str):
    repo = get_repository(db(), owner, name, repo_viewer())
    anonymous = request.args.get("anon") in ("1", "true")
    found = history.contributors(settings().repos_dir, repo)
    people = users_by_email(db(), {c.email for c in found})
    # One entry per account (an account may have committed under several addresses); with
    # `anon`, authors without an account too, as GitHub lists them.
    merged: dict[object, list] = {}
    for contributor in found:
        user = people.get(contributor.email.lower())
        if user is None and not anonymous:
            continue
        key = ("user", user.id) if user is not None else ("email", contributor.email.lower())
        merged.setdefault(key, [user, contributor, 0])[2] += contributor.contributions
    ranked = sorted(merged.values(), key=lambda item: -item[2])
    body, headers = paginate(ranked, lambda item: history_shapes.contributor(*item))
    return jsonify(body), 200, headers
