"""Issues as GitHub's REST API serves them: /repos/{o}/{r}/issues[/{n}[/lock|/labels|
/assignees|/events|/timeline|/reactions]], /issues/events/{id}, /assignees, and the issue side
of /issues/{n}/comments and /issues/comments/{id} (forge.api.comments routes those: the same
paths serve the conversation of pull requests).

Pull requests are issues on GitHub, and so here: GET /issues/{n} answers a change's number with
the change as an issue (with its `pull_request` key), and the list holds both, newest first,
as GitHub's does (PyGithub's get_issues then shows pull requests too; `issue.pull_request`
tells them apart). A list filtered by labels, milestone or assignee holds issues only: changes
have none of those.
"""

from __future__ import annotations

from flask import jsonify, request

from forge.api import api
from forge.api.auth import repo_viewer, require_scope
from forge.api.bodies import body_field, json_body
from forge.api.errors import ApiError
from forge.api.pagination import paginate
from forge.api.pulls import pull_of
from forge.api.shapes import issues as shapes
from forge.api.shapes.pulls import issue_of_change
from forge.errors import Invalid, NotFound
from forge.issues import catalog, metadata, reactions, tracker
from forge.models import Change, Issue, IssueComment
from forge.repos.repositories import get_repository
from forge.review.gerrit_query import may_see
from forge.web.context import db


def _repo(owner: str, name: str):
    return get_repository(db(), owner, name, repo_viewer())


def _issue(owner: str, name: str, number: int):
    return tracker.get_issue(db(), _repo(owner, name), repo_viewer(), number)


def _writer_issue(owner: str, name: str, number: int):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, user)
    return user, tracker.get_issue(db(), repo, user, number)


def issue_json(issue: Issue) -> dict:
    return issue_body(db(), issue)


def issue_body(session, issue: Issue, comments_delta: int = 0) -> dict:
    """An issue's REST shape with its counts (`comments_delta`: a webhook's deleted comment
    still counts while its payload is built)."""
    counts = tracker.comment_counts(session, [issue.id]).get(issue.id, 0) + comments_delta
    milestone_counts = catalog.issue_counts(session, issue.milestone) if issue.milestone else (0, 0)
    return shapes.issue(
        issue,
        comments=counts,
        reaction_counts=reactions.counts(reactions.reactions_of(session, issue)),
        milestone_counts=milestone_counts,
    )


def comment_json(comment) -> dict:
    rows = reactions.reactions_of(db(), comment.issue, comment)
    return shapes.comment(comment, reactions.counts(rows))


def _names(value, field: str) -> list[str]:
    """A list of names: GitHub takes them as strings or as objects with a `name`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{field} must be a list", field=field)
    names = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("name") or item.get("login")
        if not isinstance(item, str):
            raise Invalid(f"{field} must be a list of names", field=field)
        names.append(item)
    return names


def _label_names_body() -> list[str]:
    """POST/PUT /issues/{n}/labels: a list of names, or {"labels": [...]} as GitHub takes."""
    body = request.get_json(force=True, silent=True)
    if isinstance(body, dict):
        body = body.get("labels", [])
    if body is None and request.get_data():
        raise ApiError(400, "Problems parsing JSON")
    return _names(body or [], "labels")


# --- issues ----------------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/issues")
def list_issues(owner: str, name: str):
    repo = _repo(owner, name)
    args = request.args
    labels = [x for x in args.get("labels", "").split(",") if x.strip()]
    found = tracker.issues_of(
        db(),
        repo,
        repo_viewer(),
        state=args.get("state", "open"),
        labels=labels,
        milestone=args.get("milestone"),
        assignee=args.get("assignee"),
        creator=args.get("creator"),
        mentioned=args.get("mentioned"),
        sort=args.get("sort", "created"),
        direction=args.get("direction", "desc"),
    )
    items: list = list(found)
    if not (labels or args.get("milestone") or args.get("assignee") or args.get("mentioned")):
        items += _changes_as_issues(repo, args.get("state", "open"), args.get("creator"))
        reverse = args.get("direction", "desc") != "asc"
        items.sort(key=lambda row: (row.created_at, row.number), reverse=reverse)
    body, headers = paginate(items, _any_issue_json)
    return jsonify(body), 200, headers


def _changes_as_issues(repo, state: str, creator: str | None) -> list[Change]:
    from sqlalchemy import select

    from forge.accounts.users import find_user

    query = select(Change).where(Change.repository_id == repo.id)
    if state == "open":
        query = query.where(Change.state == "open")
    elif state == "closed":
        query = query.where(Change.state.in_(("closed", "merged")))
    if creator:
        author = find_user(db(), creator)
        query = query.where(Change.author_id == (author.id if author else -1))
    return [c for c in db().scalars(query) if may_see(db(), repo_viewer(), c)]


def _any_issue_json(row) -> dict:
    return issue_json(row) if isinstance(row, Issue) else issue_of_change(row)


@api.post("/repos/<owner>/<name>/issues")
def create_issue(owner: str, name: str):
    user = require_scope("repo")
    repo = get_repository(db(), owner, name, user)
    body = json_body()
    assignees = _names(body_field(body, "assignees", list), "assignees")
    if body_field(body, "assignee", str):
        assignees.append(body["assignee"])
    issue = tracker.open_issue(
        db(),
        repo,
        user,
        title=body.get("title"),
        body=body_field(body, "body", str),
        labels=_names(body_field(body, "labels", list), "labels"),
        assignees=assignees,
        milestone=body_field(body, "milestone", int),
    )
    return jsonify(issue_json(issue)), 201


@api.get("/repos/<owner>/<name>/issues/<int:number>")
def get_issue(owner: str, name: str, number: int):
    repo = _repo(owner, name)
    found = tracker.find_issue(db(), repo, number)
    if found is not None:
        return jsonify(issue_json(found))
    _repo_, change = pull_of(owner, name, number)  # a pull request is an issue too
    return jsonify(issue_of_change(change))


@api.patch("/repos/<owner>/<name>/issues/<int:number>")
def update_issue(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    body = json_body()
    session = db()
    if "title" in body or "body" in body:
        tracker.edit_issue(
            session, issue, user, title=body.get("title"), body=body_field(body, "body", str)
        )
    if "labels" in body:
        names = _names(body_field(body, "labels", list), "labels")
        metadata.set_labels(session, issue, user, names, replace=True)
    if "assignees" in body or "assignee" in body:
        logins = _names(body_field(body, "assignees", list), "assignees")
        if body_field(body, "assignee", str):
            logins.append(body["assignee"])
        metadata.set_assignees(session, issue, user, logins)
    if "milestone" in body:
        # null or "" (PyGithub's edit(milestone=None)) takes the issue out of its milestone.
        wanted = None if body["milestone"] in (None, "") else body_field(body, "milestone", int)
        metadata.set_milestone(session, issue, user, wanted)
    state = body_field(body, "state", str)
    reason = body_field(body, "state_reason", str)
    if state not in (None, "open", "closed"):
        raise Invalid("state must be open or closed", field="state")
    if state == "closed":
        tracker.close_issue(session, issue, user, reason)
    elif state == "open" or reason == "reopened":
        tracker.reopen_issue(session, issue, user)
    return jsonify(issue_json(issue))


@api.put("/repos/<owner>/<name>/issues/<int:number>/lock")
def lock_issue(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    body = json_body()
    tracker.lock_issue(db(), issue, user, body_field(body, "lock_reason", str))
    return "", 204


@api.delete("/repos/<owner>/<name>/issues/<int:number>/lock")
def unlock_issue(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    tracker.unlock_issue(db(), issue, user)
    return "", 204


# --- labels on an issue ----------------------------------------------------------------------


def _labels_json(issue: Issue) -> list:
    return [shapes.label(lb, issue.repository.full_name) for lb in issue.labels]


@api.get("/repos/<owner>/<name>/issues/<int:number>/labels")
def list_issue_labels(owner: str, name: str, number: int):
    issue = _issue(owner, name, number)
    body, headers = paginate(_labels_json(issue), lambda x: x)
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/issues/<int:number>/labels")
def add_issue_labels(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    metadata.set_labels(db(), issue, user, _label_names_body(), replace=False)
    return jsonify(_labels_json(issue))


@api.put("/repos/<owner>/<name>/issues/<int:number>/labels")
def set_issue_labels(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    metadata.set_labels(db(), issue, user, _label_names_body(), replace=True)
    return jsonify(_labels_json(issue))


@api.delete("/repos/<owner>/<name>/issues/<int:number>/labels")
def clear_issue_labels(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    metadata.set_labels(db(), issue, user, [], replace=True)
    return "", 204


@api.delete("/repos/<owner>/<name>/issues/<int:number>/labels/<path:label_name>")
def remove_issue_label(owner: str, name: str, number: int, label_name: str):
    user, issue = _writer_issue(owner, name, number)
    metadata.remove_label(db(), issue, user, label_name)
    return jsonify(_labels_json(issue))


# --- assignees -------------------------------------------------------------------------------


@api.post("/repos/<owner>/<name>/issues/<int:number>/assignees")
def add_assignees(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    logins = _names(body_field(json_body(), "assignees", list), "assignees")
    metadata.assign(db(), issue, user, logins)
    return jsonify(issue_json(issue)), 201


@api.delete("/repos/<owner>/<name>/issues/<int:number>/assignees")
def remove_assignees(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    logins = _names(body_field(json_body(), "assignees", list), "assignees")
    metadata.unassign(db(), issue, user, logins)
    return jsonify(issue_json(issue))


@api.get("/repos/<owner>/<name>/assignees")
def list_assignees(owner: str, name: str):
    from forge.api.shapes.users import simple_user

    repo = _repo(owner, name)
    people = tracker.assignable_people(db(), repo)
    body, headers = paginate(people, simple_user)
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/assignees/<login>")
def check_assignee(owner: str, name: str, login: str):
    repo = _repo(owner, name)
    if any(u.name.lower() == login.lower() for u in tracker.assignable_people(db(), repo)):
        return "", 204
    raise NotFound(f"{login} cannot be assigned in {repo.full_name}")


# --- events and timeline ---------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/issues/<int:number>/events")
def list_issue_events(owner: str, name: str, number: int):
    issue = _issue(owner, name, number)
    found = [e for e in tracker.events_of(db(), issue) if e.event != "cross-referenced"]
    body, headers = paginate(found, shapes.event)
    return jsonify(body), 200, headers


@api.get("/repos/<owner>/<name>/issues/events/<int:event_id>")
def get_issue_event(owner: str, name: str, event_id: int):
    from forge.models import IssueEvent

    repo = _repo(owner, name)
    row = db().get(IssueEvent, event_id)
    if row is None or row.issue.repository_id != repo.id:
        raise NotFound(f"no issue event {event_id} in {repo.full_name}")
    return jsonify(shapes.event(row, issue_json(row.issue)))


def _timeline_item(row) -> dict:
    if isinstance(row, IssueComment):
        return shapes.timeline_comment(row)
    if row.event == "cross-referenced":
        source = row.source_issue or row.source_change
        viewer = repo_viewer()
        if source is not None and _may_read(source.repository, viewer):
            source_json = (
                issue_json(source) if isinstance(source, Issue) else issue_of_change(source)
            )
            return shapes.cross_reference(row, source_json)
        return None
    return shapes.event(row)


def _may_read(repo, viewer) -> bool:
    from forge.accounts.permissions import can

    return can(db(), viewer, "read", repo)


@api.get("/repos/<owner>/<name>/issues/<int:number>/timeline")
def issue_timeline(owner: str, name: str, number: int):
    issue = _issue(owner, name, number)
    items = [item for item in map(_timeline_item, tracker.timeline(db(), issue)) if item]
    body, headers = paginate(items, lambda x: x)
    return jsonify(body), 200, headers


# --- reactions -------------------------------------------------------------------------------


@api.get("/repos/<owner>/<name>/issues/<int:number>/reactions")
def list_issue_reactions(owner: str, name: str, number: int):
    issue = _issue(owner, name, number)
    rows = reactions.reactions_of(db(), issue)
    content = request.args.get("content")
    rows = [r for r in rows if content is None or r.content == content]
    body, headers = paginate(rows, shapes.reaction)
    return jsonify(body), 200, headers


@api.post("/repos/<owner>/<name>/issues/<int:number>/reactions")
def create_issue_reaction(owner: str, name: str, number: int):
    user, issue = _writer_issue(owner, name, number)
    row, made = reactions.react(db(), issue, user, body_field(json_body(), "content", str))
    return jsonify(shapes.reaction(row)), 201 if made else 200


@api.delete("/repos/<owner>/<name>/issues/<int:number>/reactions/<int:reaction_id>")
def delete_issue_reaction(owner: str, name: str, number: int, reaction_id: int):
    user, issue = _writer_issue(owner, name, number)
    reactions.remove_reaction(db(), issue, user, reaction_id)
    return "", 204


def issue_comment_reactions(comment, user=None, content=None, method="GET"):
    """/issues/comments/{id}/reactions for an issue's comment (forge.api.comments routes)."""
    if method == "POST":
        row, made = reactions.react(db(), comment.issue, user, content, comment)
        return jsonify(shapes.reaction(row)), 201 if made else 200
    body, headers = paginate(reactions.reactions_of(db(), comment.issue, comment), shapes.reaction)
    return jsonify(body), 200, headers
