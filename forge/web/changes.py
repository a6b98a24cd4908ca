"""Change requests in the browser: the list, opening one from the compare page, the change's
conversation, commits and files, inline review, merging, forks and the inbox.

URLs follow GitHub's: /OWNER/REPO/pulls, /OWNER/REPO/pull/N, .../pull/N/commits,
.../pull/N/files. The files tab lists the files at once; each file's diff is its own
request (.../pull/N/files/diff?path=...), fetched by forge.js as the file comes into view,
or followed as a link without JavaScript. Every form posts, then redirects back.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from forge.accounts.permissions import can
from forge.cache import LRU
from forge.errors import Forbidden, Invalid, NotFound
from forge.gate import merge_queue, merging
from forge.repos import browse
from forge.repos import repositories as repo_service
from forge.repos.markup import render_markdown
from forge.repos.refs import RefChangeSettings
from forge.repos.statuses import combined_state
from forge.review import change_views as views
from forge.review import changes as change_service
from forge.review import drafts, inbox
from forge.review import reviews as review_service
from forge.review.gerrit_query import may_see
from forge.web import external_url
from forge.web.browse import code_url, compare_choices, render_repo_page
from forge.web.change_chains import chain_panel
from forge.web.change_forms import (
    ChangeCommentForm,
    InlineCommentForm,
    MergeForm,
    OpenChangeForm,
    ReplyForm,
    ResolveForm,
    ReviewForm,
)
from forge.web.context import db, redis_connection, settings, viewer
from forge.web.forms import PostForm
from forge.web.issue_markup import link_references
from forge.web.merge_queue import AutoMergeForm
from forge.web.votes import panel as vote_panel

bp = Blueprint("changes", __name__)
_FRAGMENTS = LRU(32 * 1024 * 1024, weigh=lambda html: 64 + len(html))


@bp.app_template_filter()
def diff_anchor(path: str) -> str:
    """The id of a file's diff on the page (the same as FileDiff.anchor)."""
    return "diff-" + hashlib.sha1(path.encode()).hexdigest()[:16]


@bp.app_template_filter()
def comment_markdown(body: str, change) -> str:
    """A review comment's Markdown as sanitized HTML, its relative links in the base branch."""
    repo, ref = change.repository, change.base_branch
    html = render_markdown(body or "", code_url(repo, "blob", ref), code_url(repo, "raw", ref), "")
    return link_references(db(), repo, viewer(), html)  # #N: the issue or change it names


@bp.app_context_processor
def inbox_count():
    def unread_notifications() -> int:
        user = viewer()
        return inbox.unread_count(db(), user) if user is not None else 0

    return {"unread_notifications": unread_notifications}


# --- helpers ------------------------------------------------------------------------------------


def _repo(owner: str, name: str):
    return repo_service.get_repository(db(), owner, name, viewer())


def _change(owner: str, name: str, number: int):
    repo = _repo(owner, name)
    change = change_service.get_change(db(), repo, number)
    if not may_see(db(), viewer(), change):  # a private change: as if it did not exist
        raise NotFound(f"change #{number} not found in {repo.full_name}")
    return repo, change


def _url(change, endpoint: str = ".show", **args) -> str:
    repo = change.repository
    return url_for(endpoint, owner=repo.owner.name, name=repo.name, number=change.number, **args)


def _number_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value and 0 < value < 1_000_000 else None


def _choice(change):
    return views.choose(change, _number_arg("ps"), _number_arg("against"))


def _choice_args(choice) -> dict:
    args = {"ps": choice.patch_set.number}
    if choice.against is not None:
        args["against"] = choice.against.number
    return args


def _back(change, fallback: str, field: str = "next") -> str:
    """Where a form's `next` says to go, if it is a page of this change; else `fallback`."""
    wanted = request.form.get(field, "")
    prefix = _url(change)
    ours = wanted == prefix or wanted.startswith((prefix + "/", prefix + "?", prefix + "#"))
    return wanted if ours and "//" not in wanted and "\\" not in wanted else fallback


def failure_status(exc) -> int:
    """Undo the request's writes; the HTTP status for a service's refusal `exc`."""
    db().rollback()
    return 403 if isinstance(exc, Forbidden) else 404 if isinstance(exc, NotFound) else 400


def _ref_settings() -> RefChangeSettings:
    return RefChangeSettings.build(settings(), redis_connection(), external_url(""))


def _page(template: str, repo, change=None, status: int = 200, **values):
    user = viewer()
    if change is not None:
        values.update(
            change=change,
            can_write=can(db(), user, "write", repo),
            can_close=user is not None
            and (user.id == change.author_id or can(db(), user, "triage", repo)),
            # A draft's author or a maintainer marks it ready (forge.review.drafts).
            can_mark_ready=user is not None
            and (user.id == change.author_id or can(db(), user, "maintain", repo)),
            review_form=values.get("review_form") or ReviewForm(prefix="review"),
            post_form=PostForm(),
            commit_count=len(views.commits(settings().repos_dir, change, change.current_patch_set)),
        )
    return render_repo_page(template, repo, "pulls", **values), status


# --- the list -----------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/pulls")
def pulls(owner: str, name: str):
    repo = _repo(owner, name)
    state = "closed" if request.args.get("state") == "closed" else "open"
    seen = [
        [c for c in change_service.list_changes(db(), repo, states) if may_see(db(), viewer(), c)]
        for states in ("open", "closed_or_merged")
    ]  # a private change only for those who may see it
    open_changes, closed_changes = seen
    return _page(
        "repo_pulls.html",
        repo,
        state=state,
        listed=open_changes if state == "open" else closed_changes,
        open_count=len(open_changes),
        closed_count=len(closed_changes),
    )


# --- opening ------------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/pulls/new", methods=["POST"])
@login_required
def open_change(owner: str, name: str):
    repo = _repo(owner, name)
    form = OpenChangeForm()
    if form.validate_on_submit():
        try:
            change = change_service.open_change(
                db(),
                settings().repos_dir,
                repo,
                viewer(),
                title=form.title.data,
                base=form.base.data.strip(),
                head=form.head.data.strip(),
                description=form.description.data or "",
            )
        except (Invalid, Forbidden) as exc:
            return _compare_again(repo, form, exc.message, failure_status(exc))
        return redirect(_url(change))
    errors = [f"{field.label.text}: {e}" for field in form for e in field.errors]
    return _compare_again(repo, form, "; ".join(errors) or "the form is incomplete", 400)


def _compare_again(repo, form, message: str, status: int):
    """The compare page again, with what was typed and why it was refused."""
    base, head = (form.base.data or "").strip(), (form.head.data or "").strip()
    view = None
    if base and head and ":" not in head:
        try:
            view = browse.compare(settings().repos_dir, repo, f"{base}...{head}")
        except (Invalid, NotFound):
            view = None
    return render_repo_page(
        "repo_compare.html",
        repo,
        "pulls",
        view=view,
        **compare_choices(repo),
        base=base,
        head=head,
        split=False,
        open_form=form,
        open_error=message,
    ), status


# --- the change ---------------------------------------------------------------------------------


def conversation_page(repo, change, status: int = 200, error: str | None = None, **forms):
    """The change's conversation tab, with `error` shown and the forms given kept as filled."""
    user = viewer()
    repos_dir = settings().repos_dir
    blob_base = code_url(repo, "blob", change.base_branch)
    raw_base = code_url(repo, "raw", change.base_branch)
    description = (
        link_references(
            db(), repo, user, render_markdown(change.description, blob_base, raw_base, "")
        )
        if (change.description)
        else None
    )
    merge_state = merging.mergeability(repos_dir, change) if change.state == "open" else None
    statuses = views.latest_statuses(db(), change)
    merge_form = forms.get("merge_form") or MergeForm(sha=change.head_sha)
    return _page(
        "change_conversation.html",
        repo,
        change,
        status,
        tab_of_change="conversation",
        error=error,
        description=description,
        timeline=views.timeline(db(), change, user),
        patch_set_of_event=views.patch_set_of_event,
        merge_state=merge_state,
        statuses=statuses,
        combined=combined_state(statuses) if statuses else None,
        merge_form=merge_form,
        comment_form=forms.get("comment_form") or ChangeCommentForm(),
        review_form=forms.get("review_form"),
        branch_deletable=_branch_deletable(change),
        pending=_pending_count(change),
        **vote_panel(change),
        **chain_panel(change),
        queue=_queue_view(change),
    )


def _queue_view(change) -> dict:
    """The change's place in the merge queue, for the merge box (_change_merge_queue.html)."""
    user = viewer()
    entry = merge_queue.latest_entry(db(), change)
    open_ = change.state == "open"
    return {
        "entry": entry,
        "position": merge_queue.position_of(db(), entry) if entry is not None else None,
        "can_remove": entry is not None and merge_queue.may_remove(db(), user, entry),
        "can_auto_merge": open_
        and user is not None
        and (user.id == change.author_id or can(db(), user, "write", change.repository)),
        "auto_form": AutoMergeForm(method=change.auto_merge_method or "merge"),
        "in_use": open_ and merge_queue.queue_in_use(db(), settings().repos_dir, change),
    }


def _branch_deletable(change) -> bool:
    if change.state != "merged" or not change.head_branch:
        return False
    if change.head_repository_id != change.repository_id:
        return False
    branches, _ = browse.branches(settings().repos_dir, change.repository)
    return any(b.name == change.head_branch for b in branches)


def _pending_count(change) -> int:
    user = viewer()
    if user is None:
        return 0
    return sum(1 for t in views.threads(db(), change, user) if t.pending)


@bp.route("/<owner>/<name>/pull/<int:number>")
def show(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    return conversation_page(repo, change)


@bp.route("/<owner>/<name>/pull/<int:number>/commits")
def commits(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    choice = views.choose(change, _number_arg("ps"), None)
    found = views.commits(settings().repos_dir, change, choice.patch_set)
    return _page(
        "change_commits.html",
        repo,
        change,
        tab_of_change="commits",
        choice=choice,
        commits=found,
    )


@bp.route("/<owner>/<name>/pull/<int:number>/files")
def files(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    choice = _choice(change)
    found = views.changed_files(settings().repos_dir, change, choice)
    threads = views.threads(db(), change, viewer())
    diff_url = _url(change, ".file_diff") + "?" + urlencode(_choice_args(choice))
    return _page(
        "change_files.html",
        repo,
        change,
        tab_of_change="files",
        choice=choice,
        files=found,
        diff_url=diff_url,
        here=_url(change, ".files", **_choice_args(choice)),
        outdated=[t for t in threads if t.outdated],
        pending=sum(1 for t in threads if t.pending),
        comment_form=InlineCommentForm(prefix="c"),
    )


@bp.route("/<owner>/<name>/pull/<int:number>/files/diff")
def file_diff(owner: str, name: str, number: int):
    """One file's diff: an HTML fragment for forge.js, or (?full=1) a page of its own."""
    repo, change = _change(owner, name, number)
    choice = _choice(change)
    path = request.args.get("path", "")
    browse.split_path(path)
    diff = views.diff_of_file(settings().repos_dir, change, choice, path)
    full = request.args.get("full") == "1"
    own_url = _url(change, ".file_diff", path=path, full=1, **_choice_args(choice))
    files_url = _url(change, ".files", **_choice_args(choice))
    wanted_line = request.args.get("line", type=int)
    wanted_side = (
        request.args.get("side") if request.args.get("side") in ("LEFT", "RIGHT") else None
    )
    values = dict(
        choice=choice,
        file=diff,
        placed=views.threads_at(views.threads(db(), change, viewer()), path, choice),
        plus_url=own_url + "&",
        back=own_url if full else files_url + "#" + diff.anchor,
        wanted=(wanted_side, wanted_line) if wanted_line and wanted_side else None,
        comment_form=InlineCommentForm(prefix="c"),
        reply_form=ReplyForm(prefix="r"),
        signed_in=viewer() is not None,
    )
    if full:
        return _page("change_file_page.html", repo, change, tab_of_change="files", **values)
    html = None
    if not values["placed"] and values["wanted"] is None:
        # Without threads or a form, a fragment depends only on the objects and the URL:
        # rendered once, not once per reader.
        against = choice.against.head_sha if choice.against else None
        sides = choice.commentable if values["signed_in"] else ""
        key = (repo.id, choice.patch_set.head_sha, against, path, sides, values["plus_url"])
        html = _FRAGMENTS.get(key)
        if html is None:
            html = _FRAGMENTS.put(key, _render_fragment(repo, change, values))
    else:
        html = _render_fragment(repo, change, values)
    return html, 200, {"Cache-Control": "private, no-cache"}


def _render_fragment(repo, change, values) -> str:
    return render_template("_change_file_diff.html", repo=repo, change=change, **values)


# --- acting on the change -------------------------------------------------------------------


@bp.route("/<owner>/<name>/pull/<int:number>/comments", methods=["POST"])
@login_required
def comment(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    form = ChangeCommentForm()
    if not form.validate_on_submit():
        return conversation_page(repo, change, 400, "a comment needs some text", comment_form=form)
    try:
        change_service.add_comment(db(), viewer(), change, form.body.data)
    except (Invalid, Forbidden) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message, comment_form=form)
    return redirect(_url(change) + "#bottom")


@bp.route("/<owner>/<name>/pull/<int:number>/<any(close, reopen):action>", methods=["POST"])
@login_required
def close_or_reopen(owner: str, name: str, number: int, action: str):
    repo, change = _change(owner, name, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    try:
        if action == "close":
            change_service.close_change(db(), viewer(), change)
        else:
            change_service.reopen_change(db(), settings().repos_dir, viewer(), change)
    except (Invalid, Forbidden) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message)
    return redirect(_url(change))


@bp.route("/<owner>/<name>/pull/<int:number>/ready", methods=["POST"])
@login_required
def ready_for_review(owner: str, name: str, number: int):
    """A draft (work in progress) marked ready: it may merge once its requirements are met."""
    repo, change = _change(owner, name, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    try:
        drafts.set_draft(db(), viewer(), change, False)
    except (Invalid, Forbidden) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message)
    return redirect(_url(change))


@bp.route("/<owner>/<name>/pull/<int:number>/merge", methods=["POST"])
@login_required
def merge(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    form = MergeForm()
    if not form.validate_on_submit():
        return conversation_page(repo, change, 400, "choose a merge method", merge_form=form)
    try:
        submitted = merge_queue.submit(
            db(),
            settings().repos_dir,
            viewer(),
            change,
            form.method.data,
            _ref_settings(),
            expected_head_sha=form.sha.data,
            commit_title=form.commit_title.data or None,
            base_url=external_url(""),
        )
    except (Invalid, Forbidden) as exc:
        form.sha.data = change.head_sha
        return conversation_page(repo, change, failure_status(exc), exc.message, merge_form=form)
    # A topic is submitted whole (forge.gate.topics): say which changes went with this one.
    numbers = ", ".join(f"#{n}" for n in sorted(c.number for c in [change, *submitted.together]))
    what = f"Changes {numbers} of the topic {change.topic!r}" if submitted.together else (
        f"Change #{change.number}")  # fmt: skip
    if submitted.entry is not None:
        flash(f"{what} {'were' if submitted.together else 'was'} added to the merge queue "
              f"of {change.base_branch}.", "success")  # fmt: skip
        return redirect(_url(change) + "#merge")
    flash(f"{what} {'were' if submitted.together else 'was'} merged into "
          f"{change.base_branch}.", "success")  # fmt: skip
    return redirect(_url(change))


@bp.route("/<owner>/<name>/pull/<int:number>/delete-branch", methods=["POST"])
@login_required
def delete_branch(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    try:
        merging.delete_head_branch(db(), settings().repos_dir, change, viewer(), _ref_settings())
    except (Invalid, Forbidden) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message)
    flash(f"The branch {change.head_branch} was deleted.", "success")
    return redirect(_url(change))


@bp.route("/<owner>/<name>/pull/<int:number>/review-comments", methods=["POST"])
@login_required
def inline_comment(owner: str, name: str, number: int):
    """A draft comment on a line of the current patch set: part of the author's pending review."""
    _repo_, change = _change(owner, name, number)
    form = InlineCommentForm(prefix="c")
    if not form.validate_on_submit():
        errors = [f"{f.name.removeprefix('c-')}: {e}" for f in form for e in f.errors]
        raise Invalid("; ".join(errors) or "the comment form is incomplete")
    review_service.add_comment(
        db(),
        settings().repos_dir,
        change,
        viewer(),
        path=form.path.data,
        line=form.line.data,
        side=form.side.data,
        body=form.body.data,
        draft=True,
    )
    return redirect(_back(change, _url(change, ".files"), "c-next"))


@bp.route(
    "/<owner>/<name>/pull/<int:number>/review-comments/<int:comment_id>/replies",
    methods=["POST"],
)
@login_required
def reply(owner: str, name: str, number: int, comment_id: int):
    _repo_, change = _change(owner, name, number)
    form = ReplyForm(prefix="r")
    if not form.validate_on_submit():
        raise Invalid("a reply needs some text")
    review_service.reply(db(), change, viewer(), comment_id, form.body.data)
    return redirect(_back(change, _url(change), "r-next"))


@bp.route(
    "/<owner>/<name>/pull/<int:number>/review-comments/<int:comment_id>/resolve",
    methods=["POST"],
)
@login_required
def resolve(owner: str, name: str, number: int, comment_id: int):
    _repo_, change = _change(owner, name, number)
    form = ResolveForm()
    if not form.validate_on_submit():
        raise Invalid("the form is out of date; reload the page")
    review_service.set_resolved(db(), change, viewer(), comment_id, form.resolved.data == "1")
    return redirect(_back(change, _url(change)))


@bp.route("/<owner>/<name>/pull/<int:number>/reviews", methods=["POST"])
@login_required
def submit_review(owner: str, name: str, number: int):
    repo, change = _change(owner, name, number)
    form = ReviewForm(prefix="review")
    if not form.validate_on_submit():
        return conversation_page(repo, change, 400, "choose a verdict", review_form=form)
    try:
        review_service.submit_review(
            db(), settings().repos_dir, change, viewer(), form.event.data, form.body.data or ""
        )
    except (Invalid, Forbidden) as exc:
        return conversation_page(repo, change, failure_status(exc), exc.message, review_form=form)
    return redirect(_url(change) + "#bottom")


# --- the inbox --------------------------------------------------------------------------------


@bp.route("/notifications")
@login_required
def notifications():
    user = viewer()
    show_all = request.args.get("all") == "1"
    return render_template(
        "notifications.html",
        inbox=inbox.entries(db(), user, include_read=show_all),
        show_all=show_all,
        unread=inbox.unread_count(db(), user),
        awaiting=change_service.awaiting_review(db(), user),
        post_form=PostForm(),
    )


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    if not PostForm().validate_on_submit():
        abort(400, "the form is out of date; reload the page")
    which = request.form.get("id", type=int)
    if request.form.get("done") and which is not None:
        inbox.mark_done(db(), viewer(), which)
    else:
        inbox.mark_read(db(), viewer(), which)
    return redirect(url_for(".notifications", all="1" if request.form.get("all") else None))
