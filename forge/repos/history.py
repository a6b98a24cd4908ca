"""A repository's history as the REST API reads it: commits filtered by path, author and
date; two revisions compared; the README of a folder; which languages the default branch is
written in and who contributed; and diffs and patches as git prints them (GitHub's `.diff`
and `.patch` media types).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup, escape

from forge.cache import LRU
from forge.errors import Invalid, NotFound
from forge.git import patches as git_patches
from forge.git.browse import CommitInfo, Revision
from forge.models import Change, Repository
from forge.repos.browse import MARKDOWN_SUFFIXES, README_NAMES, reading, split_path
from forge.repos.contents import Content, FilePatch, patches_between
from forge.repos.markup import render_markdown

MAX_COMPARE_COMMITS = 250  # as GitHub, a comparison lists at most 250 commits
MAX_SCANNED = 20_000  # commits a filtered list or the contributors walk at most
MAX_LANGUAGE_FILES = 20_000  # files of the default branch weighed for its languages
LOG_BATCH = 200

# GitHub's language names (linguist's) by file extension, for the common languages; files of
# other extensions, prose and data (Markdown, text, JSON) are not counted, as on GitHub.
LANGUAGES = {
    ".py": "Python", ".pyi": "Python", ".js": "JavaScript", ".mjs": "JavaScript",
    ".cjs": "JavaScript", ".jsx": "JavaScript", ".ts": "TypeScript", ".tsx": "TSX",
    ".go": "Go", ".rs": "Rust", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++",
    ".cxx": "C++", ".hpp": "C++", ".hh": "C++", ".java": "Java", ".kt": "Kotlin",
    ".kts": "Kotlin", ".scala": "Scala", ".rb": "Ruby", ".php": "PHP", ".cs": "C#",
    ".swift": "Swift", ".m": "Objective-C", ".sh": "Shell", ".bash": "Shell", ".zsh": "Shell",
    ".ps1": "PowerShell", ".pl": "Perl", ".lua": "Lua", ".r": "R", ".jl": "Julia",
    ".hs": "Haskell", ".ml": "OCaml", ".ex": "Elixir", ".exs": "Elixir", ".erl": "Erlang",
    ".clj": "Clojure", ".dart": "Dart", ".zig": "Zig", ".nim": "Nim", ".vue": "Vue",
    ".svelte": "Svelte", ".html": "HTML", ".htm": "HTML", ".css": "CSS", ".scss": "SCSS",
    ".sass": "Sass", ".less": "Less", ".sql": "SQL", ".tex": "TeX",
    ".mk": "Makefile", ".cmake": "CMake", ".groovy": "Groovy", ".tf": "HCL",
    ".f90": "Fortran", ".asm": "Assembly", ".s": "Assembly", ".vim": "Vim Script",
}  # fmt: skip
LANGUAGE_FILES = {"Makefile": "Makefile", "Dockerfile": "Dockerfile", "CMakeLists.txt": "CMake"}

_LANGUAGES = LRU(2_000, weigh=lambda found: 1 + len(found))


@dataclass(frozen=True)
class CommitPage:
    commits: list[CommitInfo]
    more: bool  # whether a next page has any


@dataclass(frozen=True)
class Comparison:
    base: Revision
    head: Revision
    base_commit: CommitInfo
    merge_base: CommitInfo | None
    commits: list[CommitInfo]  # on head and not on base, oldest first (at most 250)
    ahead_by: int
    behind_by: int
    files: list[FilePatch]

    @property
    def status(self) -> str:
        if not self.ahead_by and not self.behind_by:
            return "identical"
        if self.ahead_by and self.behind_by:
            return "diverged"
        return "ahead" if self.ahead_by else "behind"


@dataclass(frozen=True)
class Contributor:
    email: str
    name: str
    contributions: int


def list_commits(
    repos_dir: Path,
    repo: Repository,
    *,
    ref: str | None = None,
    path: str = "",
    author_emails: set[str] | None = None,
    since: int | None = None,
    until: int | None = None,
    page: int = 1,
    per_page: int = 30,
) -> CommitPage:
    """Commits from `ref` (default: the default branch) newest first, as `git log` lists
    them: only those that changed `path`, by one of `author_emails`, committed from `since`
    to `until` (seconds since the epoch, either end open)."""
    path = path.strip("/")
    if path:
        split_path(path)
    offset = (page - 1) * per_page
    with reading(repos_dir, repo) as reader:
        ref = ref or reader.default_branch(repo.default_branch)
        if ref is None:
            raise Invalid("Git Repository is empty.", field="sha")  # GitHub answers 409
        head = reader.revision(ref).commit
        filtered = author_emails is not None or since is not None or until is not None
        if not filtered:
            ids, more = reader.log(head, path, offset, per_page)
            return CommitPage([reader.commit(sha) for sha in ids], more)
        wanted = {e.lower() for e in author_emails} if author_emails is not None else None
        matched: list[CommitInfo] = []
        scanned, done = 0, False
        while len(matched) <= offset + per_page and not done and scanned < MAX_SCANNED:
            ids, more = reader.log(head, path, scanned, LOG_BATCH)
            scanned += len(ids)
            done = not more
            for sha in ids:
                info = reader.commit(sha)
                when = info.committer.time
                if wanted is not None and info.author.email.lower() not in wanted:
                    continue
                if (since is not None and when < since) or (until is not None and when > until):
                    continue
                matched.append(info)
        return CommitPage(matched[offset : offset + per_page], len(matched) > offset + per_page)


def compare(repos_dir: Path, repo: Repository, basehead: str) -> Comparison:
    """BASE...HEAD (or BASE..HEAD): what head has that base has not, since they parted."""
    base_name, dots, head_name = basehead.partition("...")
    if not dots:
        base_name, dots, head_name = basehead.partition("..")
    if not dots or not base_name or not head_name:
        raise NotFound("compare two revisions as BASE...HEAD")
    with reading(repos_dir, repo) as reader:
        base, head = reader.revision(base_name), reader.revision(head_name)
        found = reader.merge_base(base.commit, head.commit)
        if found is None:
            raise NotFound(f"{base_name} and {head_name} have no common ancestor")
        ahead = reader.commits_between(base.commit, head.commit, MAX_SCANNED)
        behind = reader.commits_between(head.commit, base.commit, MAX_SCANNED)
        files: list[FilePatch] = []
        merge_base = reader.commit(found) if found else None
        if found is not None and found != head.commit:
            files = patches_between(
                reader, reader.commit(found).tree, reader.commit(head.commit).tree
            )
        commits = list(reversed(ahead))[:MAX_COMPARE_COMMITS]
        return Comparison(
            base,
            head,
            reader.commit(base.commit),
            merge_base,
            commits,
            len(ahead),
            len(behind),
            files,
        )


def readme(repos_dir: Path, repo: Repository, folder: str = "", ref: str | None = None) -> Content:
    """The README of `folder` (the top folder by default) at `ref`, as GitHub picks it."""
    folder = folder.strip("/")
    if folder:
        split_path(folder)
    with reading(repos_dir, repo) as reader:
        ref = ref or reader.default_branch(repo.default_branch)
        if ref is None:
            raise NotFound("the repository is empty")
        commit = reader.revision(ref).commit
        tree = reader.entry(commit, folder)
        if tree.kind != "tree":
            raise NotFound(f"{folder} is not a folder")
        by_name = {e.name.lower(): e for e in reader.list_tree(tree.sha, folder)}
        for name in README_NAMES:
            entry = by_name.get(name)
            if entry is not None and entry.kind == "blob":
                return Content(entry, commit, data=reader.blob(entry.sha))
    raise NotFound("no README here")


def rendered_file(path: str, data: bytes, blob_base: str, raw_base: str) -> str:
    """A file as HTML (GitHub's `.html` media type): Markdown rendered and sanitized, any
    other text escaped in a <pre>."""
    text = data.decode("utf-8", "replace")
    if path.lower().endswith(MARKDOWN_SUFFIXES):
        return str(render_markdown(text, blob_base, raw_base, posixpath.dirname(path)))
    return str(Markup("<pre>") + escape(text) + Markup("</pre>"))


def languages(repos_dir: Path, repo: Repository) -> dict[str, int]:
    """Bytes of each language in the default branch, most first ({} when empty)."""
    with reading(repos_dir, repo) as reader:
        branch = reader.default_branch(repo.default_branch)
        if branch is None:
            return {}
        tree = reader.commit(reader.revision(branch).commit).tree

        def weigh() -> dict[str, int]:
            totals: dict[str, int] = {}
            pending, seen = [(tree, "")], 0
            while pending and seen < MAX_LANGUAGE_FILES:
                folder, path = pending.pop()
                for entry in reader.list_tree(folder, path):
                    if entry.kind == "tree":
                        pending.append((entry.sha, entry.path))
                        continue
                    language = language_of(entry.name)
                    if entry.kind != "blob" or language is None:
                        continue
                    seen += 1
                    totals[language] = totals.get(language, 0) + len(reader.blob(entry.sha))
            return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))

        return dict(_LANGUAGES.get_or_compute((reader.key, tree), weigh))


def language_of(name: str) -> str | None:
    return LANGUAGE_FILES.get(name) or LANGUAGES.get(posixpath.splitext(name)[1].lower())


def contributors(repos_dir: Path, repo: Repository) -> list[Contributor]:
    """Authors of the default branch's commits by email, most commits first."""
    with reading(repos_dir, repo) as reader:
        branch = reader.default_branch(repo.default_branch)
        if branch is None:
            return []
        ids, _more = reader.log(reader.revision(branch).commit, "", 0, MAX_SCANNED)
        counts: dict[str, list] = {}
        for sha in ids:
            author = reader.commit(sha).author
            found = counts.setdefault(author.email.lower(), [author.email, author.name, 0])
            found[2] += 1
    people = [Contributor(email, name, count) for email, name, count in counts.values()]
    return sorted(people, key=lambda c: (-c.contributions, c.email.lower()))


# --- diffs and patches as git prints them ---------------------------------------------------


def commit_diff(repos_dir: Path, repo: Repository, ref: str, as_patch: bool) -> bytes:
    """A commit's changes from its first parent: `git diff` text, or a format-patch mail."""
    with reading(repos_dir, repo) as reader:
        info = reader.commit(reader.revision(ref).commit)
        if as_patch:
            return git_patches.format_patches(reader.repo, [info.sha])
        old_tree = reader.commit(info.parents[0]).tree if info.parents else None
        return git_patches.tree_diff(reader.repo, old_tree, info.tree)


def compare_diff(repos_dir: Path, repo: Repository, basehead: str, as_patch: bool) -> bytes:
    comparison = compare(repos_dir, repo, basehead)
    with reading(repos_dir, repo) as reader:
        if as_patch:
            return git_patches.format_patches(reader.repo, [c.sha for c in comparison.commits])
        if comparison.merge_base is None:
            return b""
        head_tree = reader.commit(comparison.head.commit).tree
        return git_patches.tree_diff(reader.repo, comparison.merge_base.tree, head_tree)


def change_diff(repos_dir: Path, change: Change, as_patch: bool) -> bytes:
    """A change's current patch set, from its base: what `.diff`/`.patch` of a pull show."""
    patch_set = change.current_patch_set
    with reading(repos_dir, change.repository) as reader:
        if as_patch:
            found = reader.commits_between(patch_set.base_sha, patch_set.head_sha, MAX_SCANNED)
            return git_patches.format_patches(reader.repo, [c.sha for c in reversed(found)])
        old_tree = reader.commit(patch_set.base_sha).tree
        return git_patches.tree_diff(reader.repo, old_tree, reader.commit(patch_set.head_sha).tree)
