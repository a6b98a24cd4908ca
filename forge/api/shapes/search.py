"""GitHub's /search/* answers: `total_count`, `incomplete_results` and `items`, each item the
resource's usual shape with a `score`, and, when asked for, `text_matches`."""

from __future__ import annotations

from urllib.parse import quote

from forge.api.shapes import issues as issue_shapes
from forge.api.shapes.links import api_url, external_url
from forge.api.shapes.pulls import issue_of_change
from forge.api.shapes.repos import repository
from forge.api.shapes.users import simple_user


def answer(results, items: list, **extra) -> dict:
    return {
        "total_count": results.total,
        "incomplete_results": results.incomplete,
        "items": items,
        **extra,
    }


def _score(hit) -> float:
    # GitHub's score grows with relevance; the engines' ranks fall with it.
    return round(-hit.rank, 4) if hit.rank is not None else 1.0


def _text_matches(object_url: str, object_type: str, fragments: list) -> list:
    return [
        {
            "object_url": object_url,
            "object_type": object_type,
            "property": prop,
            "fragment": fragment.text,
            "matches": [
                {"text": fragment.text[start:end], "indices": [start, end]}
                for start, end in fragment.spans
            ],
        }
        for prop, fragment in fragments
        if fragment is not None and fragment.spans
    ]


def repository_hit(hit, role: str | None, text_matches: bool) -> dict:
    body = {**repository(hit.repository, role), "score": _score(hit)}
    if text_matches:
        body["text_matches"] = _text_matches(
            body["url"], "Repository", [("name", hit.title), ("description", hit.body)]
        )
    return body


def change_hit(hit, text_matches: bool) -> dict:
    body = issue_of_change(hit.change)
    full_name = hit.repository.full_name
    issue_url = body["url"]
    body.update(
        labels_url=f"{issue_url}/labels{{/name}}",
        events_url=f"{issue_url}/events",
        milestone=None,
        draft=bool(hit.change.work_in_progress),
        repository_url=api_url(f"/repos/{full_name}"),
        score=_score(hit),
    )
    if text_matches:
        body["text_matches"] = _text_matches(
            issue_url, "Issue", [("title", hit.title), ("body", hit.body)]
        )
    return body


def issue_hit(hit, text_matches: bool, comments: int) -> dict:
    body = {**issue_shapes.issue(hit.issue, comments=comments), "score": _score(hit)}
    if text_matches:
        body["text_matches"] = _text_matches(
            body["url"], "Issue", [("title", hit.title), ("body", hit.body)]
        )
    return body


def code_hit(hit, text_matches: bool) -> dict:
    repo = hit.repository
    full_name = repo.full_name
    path = quote(hit.path)
    body = {
        "name": hit.path.rsplit("/", 1)[-1],
        "path": hit.path,
        "sha": hit.blob_sha,
        "url": api_url(f"/repos/{full_name}/contents/{path}?ref={quote(repo.default_branch)}"),
        "git_url": api_url(f"/repos/{full_name}/git/blobs/{hit.blob_sha}"),
        "html_url": external_url(f"/{full_name}/blob/{quote(repo.default_branch)}/{path}"),
        "repository": repository(repo, None, family=False),
        "score": _score(hit),
        "file_size": hit.size,
        "language": hit.language or None,
    }
    if text_matches:
        lines = [("content", fragment) for group in hit.lines for fragment in group]
        body["text_matches"] = _text_matches(body["url"], "FileContent", lines)
    return body


def user_hit(hit) -> dict:
    return {**simple_user(hit.user), "score": 1.0}
