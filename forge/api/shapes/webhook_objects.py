"""GitHub's objects as its webhook payloads carry them: the user, repository, pull request,
review, review comment, issue and issue comment of `forge.api.shapes.events`.

They start from the REST shapes (one place builds each object) and are fitted to what GitHub's
webhook schemas (`@octokit/webhooks-schemas`) describe, which differ from the REST API's: each
object holds exactly the fields the webhook schema names (a receiver validating with
`additionalProperties: false` refuses any other, such as the REST user's `user_view_type`),
and the fields webhooks add take the honest empty value (no custom properties, no reactions).
"""

from __future__ import annotations

from forge.api.shapes.pulls import issue_comment, issue_of_change, pull_request, review
from forge.api.shapes.pulls import review_comment as rest_review_comment
from forge.api.shapes.repos import repository
from forge.api.shapes.users import simple_user
from forge.models import Repository, User


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


USER_FIELDS = _names(
    "login id node_id name email avatar_url gravatar_id url html_url followers_url "
    "following_url gists_url starred_url subscriptions_url organizations_url repos_url "
    "events_url received_events_url type site_admin"
)
REPOSITORY_FIELDS = _names(
    "id node_id name full_name private owner html_url description fork url forks_url keys_url "
    "collaborators_url teams_url hooks_url issue_events_url events_url assignees_url "
    "branches_url tags_url blobs_url git_tags_url git_refs_url trees_url statuses_url "
    "languages_url stargazers_url contributors_url subscribers_url subscription_url "
    "commits_url git_commits_url comments_url issue_comment_url contents_url compare_url "
    "merges_url archive_url downloads_url issues_url pulls_url milestones_url "
    "notifications_url labels_url releases_url deployments_url created_at updated_at "
    "pushed_at git_url ssh_url clone_url svn_url homepage size stargazers_count "
    "watchers_count language has_issues has_projects has_downloads has_wiki has_pages "
    "has_discussions forks_count mirror_url archived disabled open_issues_count license forks "
    "open_issues watchers default_branch is_template web_commit_signoff_required topics "
    "visibility master_branch custom_properties"
)
# The pull request of pull_request events; review events carry the simple one, without
# the counts and the merge state.
PULL_REQUEST_FIELDS = _names(
    "url id node_id html_url diff_url patch_url issue_url number state locked title user body "
    "created_at updated_at closed_at merged_at merge_commit_sha assignee assignees "
    "requested_reviewers requested_teams labels milestone commits_url review_comments_url "
    "review_comment_url comments_url statuses_url head base _links author_association "
    "auto_merge active_lock_reason draft merged mergeable rebaseable mergeable_state "
    "merged_by comments review_comments maintainer_can_modify commits additions deletions "
    "changed_files"
)
PULL_REQUEST_COUNTS = _names(
    "merged mergeable rebaseable mergeable_state merged_by comments review_comments "
    "maintainer_can_modify commits additions deletions changed_files"
)
SIMPLE_PULL_REQUEST_FIELDS = tuple(f for f in PULL_REQUEST_FIELDS if f not in PULL_REQUEST_COUNTS)
ISSUE_FIELDS = _names(
    "url repository_url labels_url comments_url events_url html_url id node_id number title "
    "user labels state locked assignee assignees milestone comments created_at updated_at "
    "closed_at author_association active_lock_reason draft performed_via_github_app "
    "pull_request body reactions timeline_url"
)
REVIEW_FIELDS = _names(
    "id node_id user body commit_id submitted_at state html_url pull_request_url "
    "author_association _links"
)
REVIEW_COMMENT_FIELDS = _names(
    "url pull_request_review_id id node_id diff_hunk path position original_position commit_id "
    "original_commit_id user body created_at updated_at html_url pull_request_url "
    "author_association _links reactions start_line original_start_line start_side line "
    "original_line side in_reply_to_id subject_type"
)
ISSUE_COMMENT_FIELDS = _names(
    "url html_url issue_url id node_id user created_at updated_at author_association body "
    "reactions performed_via_github_app"
)
# The git commit inside a status event's commit, and its signature check.
COMMIT_FIELDS = _names("author committer message tree url comment_count verification")
VERIFICATION_FIELDS = _names("verified reason signature payload")
# What webhook repositories require that forge has none of: no sign-off rule for web commits,
# no custom properties.
REPOSITORY_EMPTY = {"web_commit_signoff_required": False, "custom_properties": {}}


def _fit(body: dict, fields: tuple[str, ...], empty: dict | None = None) -> dict:
    """`body` holding only `fields`, in that order; those it lacks from `empty`, if there."""
    empty = empty or {}
    return {f: body[f] if f in body else empty[f] for f in fields if f in body or f in empty}


def _user_fit(body: dict | None) -> dict | None:
    return _fit(body, USER_FIELDS) if body is not None else None


def webhook_user(user: User | None) -> dict | None:
    return _user_fit(simple_user(user)) if user is not None else None


def _repository_fit(body: dict | None, **extra) -> dict | None:
    if body is None:
        return None
    fitted = _fit(body | extra, REPOSITORY_FIELDS, REPOSITORY_EMPTY)
    fitted["owner"] = _user_fit(fitted["owner"])
    return fitted


def webhook_repository(repo: Repository, *, for_push: bool = False) -> dict:
    """The repository; a push's also names `master_branch`, as GitHub's does."""
    extra = {"master_branch": repo.default_branch} if for_push else {}
    return _repository_fit(repository(repo, None, family=False), **extra)


def _reactions(url: str) -> dict:
    """forge has no reactions: GitHub's counts, all zero."""
    kinds = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
    return {"url": url, "total_count": 0, **dict.fromkeys(kinds, 0)}


def _pull_fit(body: dict, fields: tuple[str, ...]) -> dict:
    fitted = _fit(body, fields)
    fitted["user"] = _user_fit(fitted["user"])
    fitted["merged_by"] = _user_fit(fitted.get("merged_by"))
    fitted["assignee"] = _user_fit(fitted.get("assignee"))
    for people in ("assignees", "requested_reviewers"):
        fitted[people] = [_user_fit(person) for person in fitted.get(people) or []]
    if "merged_by" not in fields:
        del fitted["merged_by"]
    for end in ("head", "base"):
        fitted[end] = fitted[end] | {
            "user": _user_fit(fitted[end]["user"]),
            "repo": _repository_fit(fitted[end]["repo"]),
        }
    if fitted.get("auto_merge") and fitted["auto_merge"].get("enabled_by"):
        auto = fitted["auto_merge"]
        fitted["auto_merge"] = auto | {"enabled_by": _user_fit(auto["enabled_by"])}
    # GitHub's webhooks also link the template of one review comment.
    fitted["_links"] = fitted["_links"] | {"review_comment": {"href": body["review_comment_url"]}}
    return fitted


def webhook_pull_request(
    change, *, stats, comments: int, review_comments: int, requested_reviewers: list
) -> dict:
    """The full pull request of pull_request events, with its counts. Mergeability is GitHub's
    "not computed yet" (null, unknown), as its own webhooks often send it: a merge check on
    every event would cost a merge."""
    body = pull_request(
        change,
        stats=stats,
        comments=comments,
        review_comments=review_comments,
        requested_reviewers=requested_reviewers,
    )
    return _pull_fit(body, PULL_REQUEST_FIELDS)


def webhook_simple_pull_request(change) -> dict:
    """The pull request of review and review comment events, without counts."""
    return _pull_fit(pull_request(change), SIMPLE_PULL_REQUEST_FIELDS)


def webhook_review(change, row) -> dict:
    """A review, whose state webhooks write in lower case (`approved`, not `APPROVED`)."""
    body = review(change, row)
    return _fit(body, REVIEW_FIELDS) | {
        "user": _user_fit(body["user"]),
        "state": body["state"].lower(),
    }


def webhook_review_comment(change, row) -> dict:
    body = rest_review_comment(change, row)
    fitted = _fit(body | {"reactions": _reactions(body["url"] + "/reactions")},
                  REVIEW_COMMENT_FIELDS)  # fmt: skip
    fitted["user"] = _user_fit(fitted["user"])
    if fitted.get("in_reply_to_id") is None:
        fitted.pop("in_reply_to_id", None)  # webhooks leave it out rather than null
    return fitted


def webhook_issue(change, comments: int) -> dict:
    """A change as GitHub's issue; `comments`: how many its conversation holds."""
    body = issue_of_change(change)
    issue_url = body["url"]
    no_app_milestone_or_lock = dict.fromkeys(
        ("milestone", "active_lock_reason", "performed_via_github_app")
    )
    return _fit(
        body
        | no_app_milestone_or_lock
        | {
            "user": _user_fit(body["user"]),
            "comments": comments,
            "labels_url": issue_url + "/labels{/name}",
            "events_url": issue_url + "/events",
            "timeline_url": issue_url + "/timeline",
            "draft": body.get("draft", False),
            "reactions": _reactions(issue_url + "/reactions"),
        },
        ISSUE_FIELDS,
    )


def webhook_issue_comment(change, comment) -> dict:
    body = issue_comment(change, comment)
    return _fit(
        body
        | {
            "user": _user_fit(body["user"]),
            "performed_via_github_app": None,
            "reactions": _reactions(body["url"] + "/reactions"),
        },
        ISSUE_COMMENT_FIELDS,
    )


def webhook_commit(body: dict) -> dict:
    """The commit of a status event, from the REST commit (`forge.api.shapes.repos.commit`):
    an unsigned commit's verification names no signature and no signed payload."""
    git = body["commit"]
    verification = {"signature": None, "payload": None} | git["verification"]
    return body | {
        "commit": _fit(git, COMMIT_FIELDS)
        | {"verification": _fit(verification, VERIFICATION_FIELDS)},
        "author": _user_fit(body["author"]),
        "committer": _user_fit(body["committer"]),
    }
