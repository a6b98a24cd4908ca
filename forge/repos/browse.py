"""Browsing a repository: what each page of the code browser shows, as plain values.

The web layer hands over the repository (already checked readable by the viewer) and the
rest of the URL; this module splits it into a revision and a path, asks `forge.git.browse`
for the objects and returns what the page shows. Rendering that depends only on object ids
(highlighted files, READMEs, diffs) is cached by those ids.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

from forge.cache import LRU
from forge.errors import Invalid, NotFound
from forge.git.browse import (
    BranchInfo,
    CommitInfo,
    Entry,
    LastChange,
    Missing,
    RepoReader,
    Revision,
    TagInfo,
)
from forge.models import Repository
from forge.repos.file_views import (
    DiffSummary,
    diff_trees,
    highlighted,
    is_binary,
    line_count,
    too_large,
)
from forge.repos.highlight import MAX_BYTES
from forge.repos.markup import render_markdown
from forge.repos.repositories import disk_path

PER_PAGE = 50
MAX_PATH = 4096
MAX_COMPARE_COMMITS = 250
README_NAMES = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown")
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".ico": "image/x-icon",
    ".avif": "image/avif",
}
# Never served inline from forge's origin, whatever the file says it is.
ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
}

UrlOf = Callable[[str], str]  # a revision's name -> the URL of its blob or raw pages

# A folder's entries and their last commits: about 600 bytes an entry (the Entry, its strings
# and a slot in the dict of commits; the CommitInfo objects are shared with forge.git.browse).
_LISTINGS = LRU(32 * 1024 * 1024, weigh=lambda listing: 500 + 600 * len(listing[0]))
_READMES = LRU(16 * 1024 * 1024, weigh=lambda html: 64 + len(html))


# --- values the pages show --------------------------------------------------------------------


@dataclass
class Location:
    revision: Revision
    path: str

    @property
    def crumbs(self) -> list[tuple[str, str]]:
        """(name, path) of each folder down to the current path."""
        parts = self.path.split("/") if self.path else []
        return [(name, "/".join(parts[: i + 1])) for i, name in enumerate(parts)]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass
class Refs:
    """What a page says of the refs: how many there are. The branch and tag picker loads the
    names themselves when opened (`ref_names`): git.git has over a thousand."""

    branch_count: int
    tag_count: int
    default: str | None


@dataclass
class RefNames:
    branches: list[str]
    tags: list[str]
    default: str | None


@dataclass
class Readme:
    name: str
    path: str
    html: Markup


@dataclass
class FolderView:
    location: Location
    tree: str
    entries: list[Entry]
    last: dict[str, LastChange]
    latest: CommitInfo | None
    readme: Readme | None
    refs: Refs

    @property
    def key(self) -> tuple:
        """What the listing depends on: its folder's tree and the history before the head."""
        revision = self.location.revision
        return ("folder", revision.name, revision.commit, self.location.path, self.tree)


@dataclass
class FileView:
    location: Location
    entry: Entry
    kind: str  # text, markdown, image, binary, too large, symlink, submodule
    size: int
    lines: list[Markup]
    line_count: int
    latest: CommitInfo | None
    refs: Refs
    rendered: Markup | None = None  # Markdown files, as a page
    target: str = ""  # symlinks: where they point


@dataclass
class RawFile:
    name: str
    size: int
    chunks: list[bytes]
    content_type: str
    attachment: bool
    sha: str


@dataclass
class HistoryView:
    location: Location
    commits: list[CommitInfo]
    page: int
    has_next: bool
    refs: Refs


@dataclass
class CommitView:
    commit: CommitInfo
    parents: list[CommitInfo]
    diff: DiffSummary


@dataclass
class CompareView:
    base: Revision
    head: Revision
    merge_base: str | None
    commits: list[CommitInfo]
    diff: DiffSummary | None
    refs: Refs


@dataclass
class BlameGroup:
    commit: CommitInfo
    lines: list[tuple[int, Markup]] = field(default_factory=list)


@dataclass
class BlameView:
    location: Location
    entry: Entry
    groups: list[BlameGroup]
    too_large: bool
    refs: Refs


@dataclass
class Archive:
    filename: str
    content_type: str
    chunks: Iterator[bytes]


# --- reading ----------------------------------------------------------------------------------


def split_path(spec: str) -> list[str]:
    """The parts of the URL after /tree/, /blob/, ...; Invalid for anything a path of a
    repository cannot be: '..', '.', empty parts, NUL, or overlong."""
    if len(spec) > MAX_PATH or spec.count("/") > 256:
        raise Invalid("the path is too long")
    if "\x00" in spec:
        raise Invalid("the path contains a NUL character")
    parts = spec.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Invalid("the path has an empty, '.' or '..' part")
    return parts


@contextmanager
def reading(repos_dir: Path, repo: Repository) -> Iterator[RepoReader]:
    """The repository opened for reading; what it does not have is NotFound."""
    try:
        reader = RepoReader(disk_path(repos_dir, repo))
    except Missing as exc:
        raise NotFound(str(exc)) from None
    try:
        yield reader
    except Missing as exc:
        raise NotFound(str(exc)) from None
    finally:
        reader.close()


def _locate(reader: RepoReader, spec: str) -> Location:
    revision, rest = reader.resolve(split_path(spec))
    return Location(revision, "/".join(rest))


def _refs(reader: RepoReader, repo: Repository) -> Refs:
    return Refs(
        len(reader.branch_names()),
        len(reader.tag_names()),
        reader.default_branch(repo.default_branch),
    )


def ref_names(repos_dir: Path, repo: Repository) -> RefNames:
    """Every branch and tag name, for the picker of the code pages."""
    with reading(repos_dir, repo) as reader:
        return RefNames(
            reader.branch_names(),
            reader.tag_names(),
            reader.default_branch(repo.default_branch),
        )


def _latest(reader: RepoReader, location: Location, entry: Entry) -> CommitInfo | None:
    """The newest commit that changed what is at the location."""
    head = location.revision.commit
    if not location.path:
        return reader.commit(head)
    if entry.kind == "tree":
        ids, _ = reader.log(head, location.path, 0, 1, exact=True)
        return reader.commit(ids[0]) if ids else None
    # A file's is in its folder's listing, which the folder page has worked out already.
    folder = reader.entry(head, location.parent)
    sha = reader.last_commits(head, location.parent, folder.sha).get(location.name)
    return reader.commit(sha) if sha else None


def home(repos_dir: Path, repo: Repository, blob_base: UrlOf, raw_base: UrlOf) -> FolderView | None:
    """The default branch's root folder, or None for an empty repository."""
    with reading(repos_dir, repo) as reader:
        branch = reader.default_branch(repo.default_branch)
        if branch is None:
            return None
        location = Location(reader.revision(branch), "")
        return _folder(reader, repo, location, blob_base, raw_base)


def folder(
    repos_dir: Path, repo: Repository, spec: str, blob_base: UrlOf, raw_base: UrlOf
) -> FolderView | None:
    """A folder at a revision; None when the path names a file (show the file instead)."""
    with reading(repos_dir, repo) as reader:
        return _folder(reader, repo, _locate(reader, spec), blob_base, raw_base)


def _folder(reader, repo, location: Location, blob_base, raw_base) -> FolderView | None:
    entry = reader.entry(location.revision.commit, location.path)
    if entry.kind != "tree":
        return None
    head = location.revision.commit

    def listing() -> tuple[list[Entry], dict[str, LastChange]]:
        last = reader.last_changes(head, location.path, entry.sha)
        return reader.list_tree(entry.sha, location.path), last

    key = (reader.key, head, location.path, entry.sha)
    entries, last = _LISTINGS.get_or_compute(key, listing)
    readme = _readme(reader, location, entries, blob_base, raw_base)
    latest = _latest(reader, location, entry)
    return FolderView(location, entry.sha, entries, last, latest, readme, _refs(reader, repo))


def _readme(reader, location, entries, blob_base, raw_base) -> Readme | None:
    by_name = {e.name.lower(): e for e in entries if e.kind == "blob"}
    for wanted in README_NAMES:
        entry = by_name.get(wanted)
        if entry is None:
            continue
        base, raws = blob_base(location.revision.name), raw_base(location.revision.name)
        key = (reader.key, entry.sha, entry.name, base, raws, location.path)

        def render(entry=entry, base=base, raws=raws) -> Markup:
            data = reader.blob(entry.sha)
            if len(data) > MAX_BYTES or b"\x00" in data[:8000]:
                return Markup('<p class="muted">This README is too large to show.</p>')
            text = data.decode("utf-8", "replace")
            if entry.name.lower().endswith(MARKDOWN_SUFFIXES):
                return render_markdown(text, base, raws, location.path)
            return Markup('<pre class="plain">') + escape(text) + Markup("</pre>")

        return Readme(entry.name, entry.path, _READMES.get_or_compute(key, render))
    return None


def file(
    repos_dir: Path,
    repo: Repository,
    spec: str,
    blob_base: UrlOf,
    raw_base: UrlOf,
    plain: bool = False,
) -> FileView | None:
    """A file at a revision, highlighted, or why it is not shown inline; None for a folder."""
    with reading(repos_dir, repo) as reader:
        location = _locate(reader, spec)
        entry = reader.entry(location.revision.commit, location.path)
        if entry.kind == "tree":
            return None
        refs = _refs(reader, repo)
        latest = _latest(reader, location, entry)
        if entry.kind == "submodule":
            return FileView(location, entry, "submodule", 0, [], 0, latest, refs)
        data = reader.blob(entry.sha)
        size = len(data)
        view = FileView(location, entry, "text", size, [], 0, latest, refs)
        suffix = posixpath.splitext(entry.name.lower())[1]
        if entry.kind == "symlink":
            view.kind, view.target = "symlink", data.decode("utf-8", "replace")
        elif suffix in IMAGE_TYPES or suffix == ".svg":
            view.kind = "image"
        elif is_binary(data):
            view.kind = "binary"
        elif too_large(data):
            view.kind = "too large"
            view.line_count = line_count(data)
        else:
            view.lines = highlighted(reader, entry.sha, entry.name, data)
            view.line_count = len(view.lines)
            if suffix in MARKDOWN_SUFFIXES and not plain:
                view.kind = "markdown"
                base, raws = blob_base(location.revision.name), raw_base(location.revision.name)
                key = (reader.key, entry.sha, entry.name, base, raws, location.parent)
                view.rendered = _READMES.get_or_compute(
                    key,
                    lambda: render_markdown(
                        data.decode("utf-8", "replace"), base, raws, location.parent
                    ),
                )
        return view


def raw(repos_dir: Path, repo: Repository, spec: str) -> RawFile:
    """A file's exact bytes and how to serve them without letting them act as a page."""
    with reading(repos_dir, repo) as reader:
        location = _locate(reader, spec)
        entry = reader.entry(location.revision.commit, location.path)
        if entry.kind not in ("blob", "symlink"):
            raise Missing(f"{location.path} is not a file")
        size, chunks = reader.blob_chunks(entry.sha)
        content_type, attachment = raw_type(entry.name, chunks[0][:8000] if chunks else b"")
        return RawFile(entry.name, size, chunks, content_type, attachment, entry.sha)


def raw_type(name: str, head: bytes) -> tuple[str, bool]:
    """(Content-Type, as attachment?) for a file: text is text/plain, images are images, and
    anything a browser could run (HTML, SVG, XML, scripts) is plain text or a download."""
    suffix = posixpath.splitext(name.lower())[1]
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix], False
    if suffix == ".svg":
        return "image/svg+xml", True
    if not is_binary(head):
        return "text/plain; charset=utf-8", False
    guessed = mimetypes.guess_type(name)[0]
    if not guessed or guessed in ACTIVE_TYPES or guessed.startswith("text/"):
        guessed = "application/octet-stream"
    return guessed, True


def history(repos_dir: Path, repo: Repository, spec: str, page: int, per_page: int = PER_PAGE):
    with reading(repos_dir, repo) as reader:
        location = _locate(reader, spec)
        if location.path:
            reader.entry(location.revision.commit, location.path)  # 404 for a path never there
        page = max(1, page)
        ids, more = reader.log(
            location.revision.commit, location.path, (page - 1) * per_page, per_page
        )
        commits = [reader.commit(sha) for sha in ids]
        return HistoryView(location, commits, page, more, _refs(reader, repo))


def history_of_default(repos_dir: Path, repo: Repository, page: int) -> HistoryView | None:
    with reading(repos_dir, repo) as reader:
        branch = reader.default_branch(repo.default_branch)
    return None if branch is None else history(repos_dir, repo, branch, page)


def commit(repos_dir: Path, repo: Repository, sha: str) -> CommitView:
    with reading(repos_dir, repo) as reader:
        revision = reader.revision(sha)
        info = reader.commit(revision.commit)
        parents = [reader.commit(p) for p in info.parents]
        old_tree = parents[0].tree if parents else None
        return CommitView(info, parents, diff_trees(reader, old_tree, info.tree))


def compare(repos_dir: Path, repo: Repository, spec: str) -> CompareView:
    """base...head: the commits on head since it left base, and the diff from the merge base."""
    if "..." not in spec:
        raise Invalid("compare two revisions as BASE...HEAD")
    base_name, head_name = spec.split("...", 1)
    split_path(base_name)
    split_path(head_name)
    with reading(repos_dir, repo) as reader:
        base, head = reader.revision(base_name), reader.revision(head_name)
        merge_base = reader.merge_base(base.commit, head.commit)
        commits = reader.commits_between(base.commit, head.commit, MAX_COMPARE_COMMITS)
        diff = None
        if merge_base is not None and merge_base != head.commit:
            diff = diff_trees(
                reader, reader.commit(merge_base).tree, reader.commit(head.commit).tree
            )
        return CompareView(base, head, merge_base, commits, diff, _refs(reader, repo))


def blame(repos_dir: Path, repo: Repository, spec: str) -> BlameView:
    with reading(repos_dir, repo) as reader:
        location = _locate(reader, spec)
        entry = reader.entry(location.revision.commit, location.path)
        if entry.kind != "blob":
            raise Missing(f"{location.path} is not a file")
        refs = _refs(reader, repo)
        data = reader.blob(entry.sha)
        if is_binary(data) or too_large(data):
            return BlameView(location, entry, [], True, refs)
        html = highlighted(reader, entry.sha, entry.name, data)
        groups: list[BlameGroup] = []
        for number, (sha, _line) in enumerate(
            reader.blame(location.revision.commit, location.path), 1
        ):
            if not groups or groups[-1].commit.sha != sha:
                groups.append(BlameGroup(reader.commit(sha)))
            groups[-1].lines.append(
                (number, html[number - 1] if number <= len(html) else Markup(""))
            )
        return BlameView(location, entry, groups, False, refs)


def branches(repos_dir: Path, repo: Repository) -> tuple[list[BranchInfo], str | None]:
    with reading(repos_dir, repo) as reader:
        default = reader.default_branch(repo.default_branch)
        found = reader.branches()
    found.sort(key=lambda b: (b.name != default, -b.commit.committer.time, b.name))
    return found, default


def tags(repos_dir: Path, repo: Repository) -> list[TagInfo]:
    with reading(repos_dir, repo) as reader:
        return reader.tags()


def archive(repos_dir: Path, repo: Repository, spec: str) -> Archive:
    """A .tar.gz or .zip of a revision's tree, streamed as it is made."""
    formats = {".tar.gz": "application/gzip", ".zip": "application/zip"}
    suffix = next((s for s in formats if spec.endswith(s)), None)
    if suffix is None:
        raise NotFound("archives are .tar.gz or .zip")
    name, content_type = spec[: -len(suffix)], formats[suffix]
    split_path(name)
    with reading(repos_dir, repo) as reader:
        revision = reader.revision(name)
        info = reader.commit(revision.commit)
    label = f"{repo.name}-{revision.name.replace('/', '-')}"
    return Archive(
        label + suffix, content_type, _archive_chunks(repos_dir, repo, info, label, suffix)
    )


def _archive_chunks(repos_dir, repo, info: CommitInfo, label: str, suffix: str) -> Iterator[bytes]:
    reader = RepoReader(disk_path(repos_dir, repo))
    try:
        make = reader.tar_gz if suffix == ".tar.gz" else reader.zip
        yield from make(info.tree, label + "/", info.committer.time)
    finally:
        reader.close()
