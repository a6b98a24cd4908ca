"""The code browser: a repository's files, history, commits, branches, tags, blame, archives.

URLs follow GitHub's: /OWNER/REPO/tree/REF/PATH, blob/, raw/, blame/, commits/, commit/SHA,
branches, tags, compare/BASE...HEAD, archive/REF.tar.gz|.zip. REF may hold slashes; the
longest prefix of the path that names a branch or tag is the ref. Every page first checks
that the viewer may read the repository (NotFound otherwise, the same as no repository).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from urllib.parse import quote

import pygments
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from forge.accounts.permissions import can
from forge.cache import LRU
from forge.errors import NotFound
from forge.repos import browse, statuses
from forge.repos import repositories as repo_service
from forge.repos.file_views import stored_html
from forge.version import __version__
from forge.web.context import db, settings, viewer

bp = Blueprint("browse", __name__)

RAW_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")
_PATH_SAFE = "!$&'()*+,/:;=@"  # what werkzeug's path converter leaves unquoted
# Rendered pieces of pages (file lists, code, diffs, histories) by what they show.
_FRAGMENTS = LRU(64 * 1024 * 1024, weigh=len)


# --- helpers for views and templates ---------------------------------------------------------


def _repo(owner: str, name: str):
    return repo_service.get_repository(db(), owner, name, viewer())


def code_url(repo, kind: str, ref: str, path: str = "") -> str:
    """The URL of a tree, blob, raw, blame or commits page of a revision and path."""
    spec = f"{ref}/{path}" if path else ref
    return url_for(f"browse.{kind}", owner=repo.owner.name, name=repo.name, spec=spec)


def _bases(repo):
    def blob_base(ref: str) -> str:
        return code_url(repo, "blob", ref)

    def raw_base(ref: str) -> str:
        return code_url(repo, "raw", ref)

    return blob_base, raw_base


class Links:
    """URLs of one repository's code pages. A file list has a hundred links or more; they are
    made by joining a prefix built once with url_for and the quoted ref and path."""

    def __init__(self, repo):
        self.base = url_for("repos.show", owner=repo.owner.name, name=repo.name)

    def page(self, kind: str, ref: str, path: str = "") -> str:
        spec = f"{ref}/{path}" if path else ref
        return f"{self.base}/{kind}/{quote(spec, safe=_PATH_SAFE)}"

    def tree(self, ref: str, path: str = "") -> str:
        return self.page("tree", ref, path)

    def blob(self, ref: str, path: str) -> str:
        return self.page("blob", ref, path)

    def raw(self, ref: str, path: str) -> str:
        return self.page("raw", ref, path)

    def blame(self, ref: str, path: str) -> str:
        return self.page("blame", ref, path)

    def commits(self, ref: str, path: str = "") -> str:
        return self.page("commits", ref, path)

    def commit(self, sha: str) -> str:
        return f"{self.base}/commit/{sha}"

    def archive(self, ref: str, suffix: str) -> str:
        return self.page("archive", ref + suffix)

    def compare(self, base: str, head: str) -> str:
        return self.page("compare", f"{base}...{head}")


def render_repo_page(template: str, repo, tab: str, **values):
    """A page inside the repository's frame (its header and tabs, `tab` the current one)."""
    return render_template(
        template,
        repo=repo,
        tab=tab,
        links=links_for(repo),
        can_admin=can(db(), viewer(), "admin", repo),
        **values,
    )


def _page_number() -> int:
    page = request.args.get("page", 1, type=int)
    return page if 1 <= page <= 1_000_000 else 1


@bp.app_template_global()
def links_for(repo) -> Links:
    """The request's Links of a repository (macros get the repository, not the context)."""
    cache = g.setdefault("browse_links", {})
    if repo.id not in cache:
        cache[repo.id] = Links(repo)
    return cache[repo.id]


@bp.app_template_global()
def fragment(key: tuple, render, *args, timed: bool = False, stored: bool = False) -> Markup:
    """HTML that depends only on `key` (object ids and names, with the repository's full
    name), rendered by `render(*args)` once and then reused. Pieces that say how long ago
    something happened are reused for a minute at most; `stored` ones (code and diffs) are
    kept on disk too, for a restarted or another worker."""
    if timed:
        key = (*key, int(time.time() // 60))
    if not stored:
        return _FRAGMENTS.get_or_compute(key, lambda: Markup(render(*args)))
    # The same objects render differently under other templates or at another URL prefix.
    disk_key = (templates_version(), request.script_root, *key)
    return _FRAGMENTS.get_or_compute(
        key, lambda: Markup(stored_html(disk_key, lambda: str(render(*args))))
    )


@lru_cache(maxsize=1)
def templates_version() -> str:
    """What rendering depends on besides the objects: forge's templates and its highlighter."""
    env = current_app.jinja_env
    digest = hashlib.sha1(f"{__version__} {pygments.__version__}".encode())
    for name in sorted(env.list_templates()):
        digest.update(name.encode() + b"\0" + env.loader.get_source(env, name)[0].encode())
    return digest.hexdigest()[:16]


@bp.app_template_global()
def code_rows(lines: list[Markup]) -> Markup:
    """A file's rows, numbered, each line already highlighted HTML. Built here rather than by
    a template loop: Jinja took 35 ms for git.git's diff.c (7,858 lines), this takes 4."""
    return Markup(
        "".join(
            f'\n<tr id="L{n}"><td class="ln"><a href="#L{n}">{n}</a></td>'
            f'<td class="lc">{line}</td></tr>'
            for n, line in enumerate(lines, 1)
        )
    )


@bp.app_template_global()
def icon(name: str) -> Markup:
    return _icon(name)


@lru_cache(maxsize=32)
def _icon(name: str) -> Markup:
    # The SVG lives in the template; rendered once per name, not once per row.
    return Markup(current_app.jinja_env.get_template("_icons.html").module.icon(name))


@bp.app_template_global()
def avatar(person) -> Markup:
    initial = escape((person.name or "?")[:1].upper())
    return Markup(
        f'<span class="avatar-sm {avatar_class(person.name)}" aria-hidden="true">{initial}</span>'
    )


@bp.app_template_global()
def time_of(person) -> Markup:
    return Markup(
        f'<time datetime="{iso(person)}" title="{when(person)}">{ago(person.time)}</time>'
    )


@bp.app_template_filter()
def ago(when: int) -> str:
    """'3 days ago' for a unix time (commit times are seconds since the epoch)."""
    seconds = max(0, int(datetime.now(UTC).timestamp()) - int(when))
    for unit, size in (("year", 31536000), ("month", 2592000), ("day", 86400)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


@bp.app_template_filter()
def when(person) -> str:
    """A commit's date in its author's time zone, as git shows it."""
    zone = timezone(timedelta(seconds=person.offset))
    return datetime.fromtimestamp(person.time, zone).strftime("%b %-d, %Y, %H:%M %z")


@bp.app_template_filter()
def iso(person) -> str:
    return datetime.fromtimestamp(person.time, UTC).isoformat()


@bp.app_template_filter()
def day(person) -> str:
    zone = timezone(timedelta(seconds=person.offset))
    return datetime.fromtimestamp(person.time, zone).strftime("%b %-d, %Y")


@bp.app_template_filter()
def groupby_day(commits) -> list[tuple[str, list]]:
    groups: list[tuple[str, list]] = []
    for commit in commits:
        label = day(commit.committer)
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(commit)
    return groups


@bp.app_template_filter()
def filesize(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


@bp.app_template_filter()
def avatar_class(name: str) -> str:
    return "av" + str(hashlib.md5(name.encode(), usedforsecurity=False).digest()[0] % 8)


# --- the repository's home (endpoint repos.show, which calls this) ----------------------------


def home_page(repo, clone_url: str):
    blob_base, raw_base = _bases(repo)
    view = browse.home(settings().repos_dir, repo, blob_base, raw_base)
    return render_repo_page("repo_home.html", repo, "code", view=view, clone_url=clone_url)


# --- files -----------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/tree/<path:spec>")
def tree(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    blob_base, raw_base = _bases(repo)
    view = browse.folder(settings().repos_dir, repo, spec, blob_base, raw_base)
    if view is None:
        return redirect(url_for(".blob", owner=owner, name=name, spec=spec))
    return render_repo_page("repo_tree.html", repo, "code", view=view, location=view.location)


@bp.route("/<owner>/<name>/blob/<path:spec>")
def blob(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    blob_base, raw_base = _bases(repo)
    plain = request.args.get("plain") == "1"
    view = browse.file(settings().repos_dir, repo, spec, blob_base, raw_base, plain=plain)
    if view is None:
        return redirect(url_for(".tree", owner=owner, name=name, spec=spec))
    return render_repo_page("repo_blob.html", repo, "code", view=view, location=view.location)


@bp.route("/<owner>/<name>/raw/<path:spec>")
def raw(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    found = browse.raw(settings().repos_dir, repo, spec)
    response = Response(found.chunks, content_type=found.content_type)
    response.headers["Content-Length"] = str(found.size)
    response.headers["Content-Disposition"] = _disposition(found.name, found.attachment)
    response.headers["Content-Security-Policy"] = RAW_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(found.sha)
    return response.make_conditional(request)


def _disposition(filename: str, attachment: bool) -> str:
    plain = _UNSAFE_FILENAME.sub("_", filename) or "file"
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


@bp.route("/<owner>/<name>/blame/<path:spec>")
def blame(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    view = browse.blame(settings().repos_dir, repo, spec)
    return render_repo_page("repo_blame.html", repo, "code", view=view, location=view.location)


@bp.route("/<owner>/<name>/archive/<path:spec>")
def archive(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    found = browse.archive(settings().repos_dir, repo, spec)
    response = Response(found.chunks, content_type=found.content_type, direct_passthrough=True)
    response.headers["Content-Disposition"] = _disposition(found.filename, True)
    response.headers["Content-Security-Policy"] = RAW_SECURITY_POLICY
    return response


# --- history ---------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/commits", defaults={"spec": None})
@bp.route("/<owner>/<name>/commits/<path:spec>")
def commits(owner: str, name: str, spec: str | None):
    repo = _repo(owner, name)
    repos_dir = settings().repos_dir
    if spec is None:
        view = browse.history_of_default(repos_dir, repo, _page_number())
        if view is None:
            raise NotFound("this repository has no commits yet")
    else:
        view = browse.history(repos_dir, repo, spec, _page_number())
    checks = _checks(repo, [commit.sha for commit in view.commits])
    return render_repo_page(
        "repo_commits.html", repo, "commits", view=view, location=view.location, checks=checks
    )


def _checks(repo, shas: list[str]) -> dict[str, tuple[str, list]]:
    """Each listed commit's combined state and latest status per context (CI's among them)."""
    found = statuses.checks_of(db(), repo, shas)
    return {sha: (statuses.combined_state(latest), latest) for sha, latest in found.items()}


@bp.app_template_global()
def checks_key(checks: dict[str, tuple[str, list]]) -> tuple:
    """What a cached commit list must be keyed by besides the commits: their statuses."""
    return tuple(
        sorted(
            (sha, tuple((s.context, s.state) for s in latest))
            for sha, (_, latest) in checks.items()
        )
    )


@bp.route("/<owner>/<name>/commit/<sha>")
def commit(owner: str, name: str, sha: str):
    repo = _repo(owner, name)
    view = browse.commit(settings().repos_dir, repo, sha)
    return render_repo_page("repo_commit.html", repo, "commits", view=view, split=_split_view())


def _split_view() -> bool:
    return request.args.get("view") == "split"


def compare_choices(repo) -> dict:
    """The branch pickers of the compare page: head from this repository's branches, base
    from the branches of the repository a change would go to (a fork's parent)."""
    repos_dir = settings().repos_dir
    branches, default = browse.branches(repos_dir, repo)
    names = [b.name for b in branches]
    base_names = names
    if repo.fork_of is not None:
        base_names = [b.name for b in browse.branches(repos_dir, repo.fork_of)[0]]
    return {"branch_names": names, "base_names": base_names, "default_branch": default or ""}


@bp.route("/<owner>/<name>/compare", methods=["GET"])
def compare_form(owner: str, name: str):
    repo = _repo(owner, name)
    base, head = request.args.get("base", "").strip(), request.args.get("head", "").strip()
    if base and head:
        spec = f"{base}...{head}"
        return redirect(url_for(".compare", owner=owner, name=name, spec=spec))
    choices = compare_choices(repo)
    # The new change request starts from the default branch and the newest other branch.
    others = [n for n in choices["branch_names"] if n != choices["default_branch"]]
    return render_repo_page(
        "repo_compare.html",
        repo,
        "pulls",
        view=None,
        base=base or choices["default_branch"],
        head=head or (others[0] if others else ""),
        **choices,
    )


@bp.route("/<owner>/<name>/compare/<path:spec>")
def compare(owner: str, name: str, spec: str):
    repo = _repo(owner, name)
    view = browse.compare(settings().repos_dir, repo, spec)
    return render_repo_page(
        "repo_compare.html",
        repo,
        "pulls",
        view=view,
        base=view.base.name,
        head=view.head.name,
        split=_split_view(),
        **compare_choices(repo),
    )


# --- refs ------------------------------------------------------------------------------------


@bp.route("/<owner>/<name>/refs")
def ref_names(owner: str, name: str):
    """The branch and tag picker's names as JSON, loaded when the picker is opened rather than
    written into every page."""
    repo = _repo(owner, name)
    found = browse.ref_names(settings().repos_dir, repo)
    body = json.dumps(
        {"branches": found.branches, "tags": found.tags, "default": found.default},
        separators=(",", ":"),
    )
    response = Response(body, content_type="application/json")
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha1(body.encode()).hexdigest())
    return response.make_conditional(request)


@bp.route("/<owner>/<name>/branches")
def branches(owner: str, name: str):
    repo = _repo(owner, name)
    found, default = browse.branches(settings().repos_dir, repo)
    return render_repo_page("repo_branches.html", repo, "branches", branches=found, default=default)


@bp.route("/<owner>/<name>/tags")
def tags(owner: str, name: str):
    repo = _repo(owner, name)
    found = browse.tags(settings().repos_dir, repo)
    return render_repo_page("repo_tags.html", repo, "tags", tags=found)
