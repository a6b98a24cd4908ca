"""Issue templates: Markdown files in `.forge/ISSUE_TEMPLATE/` on the default branch, with
GitHub's front matter (`name`, `about`, `title`, `labels`), offered on the new-issue page.

Front matter is the simple YAML GitHub's templates use (`key: value` lines, `labels` a
comma-separated string or a `[a, b]` list), read here without a YAML parser: a template with
anything else in its front matter still works, with what could be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forge.errors import NotFound
from forge.models import Repository
from forge.repos.browse import reading

FOLDER = ".forge/ISSUE_TEMPLATE"
MAX_TEMPLATE_BYTES = 64 * 1024
MAX_TEMPLATES = 50


@dataclass(frozen=True)
class IssueTemplate:
    filename: str
    name: str
    about: str
    title: str
    labels: tuple[str, ...]
    body: str


def parse(filename: str, text: str) -> IssueTemplate:
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---"):
        head, sep, rest = text[3:].partition("\n---")
        if sep:
            body = rest.split("\n", 1)[1] if "\n" in rest else ""
            for line in head.splitlines():
                key, colon, value = line.partition(":")
                if colon and key.strip():
                    meta[key.strip().lower()] = value.strip().strip("'\"")
    labels = meta.get("labels", "").strip("[]")
    names = tuple(x.strip().strip("'\"") for x in labels.split(",") if x.strip().strip("'\""))
    return IssueTemplate(
        filename=filename,
        name=meta.get("name") or filename.rsplit(".", 1)[0],
        about=meta.get("about", ""),
        title=meta.get("title", ""),
        labels=names,
        body=body.lstrip("\n"),
    )


def templates_of(repos_dir: Path, repo: Repository) -> list[IssueTemplate]:
    """The repository's issue templates, by file name; none when it has no such folder (or no
    default branch yet)."""
    found = []
    try:
        with reading(repos_dir, repo) as reader:
            commit = reader.revision(repo.default_branch).commit
            folder = reader.entry(commit, FOLDER)
            if folder.kind != "tree":
                return []
            for entry in reader.list_tree(folder.sha, FOLDER)[:MAX_TEMPLATES]:
                if entry.kind != "blob" or not entry.name.lower().endswith(".md"):
                    continue
                data = reader.blob(entry.sha)[:MAX_TEMPLATE_BYTES]
                found.append(parse(entry.name, data.decode("utf-8", "replace")))
    except NotFound:
        return []
    return found
