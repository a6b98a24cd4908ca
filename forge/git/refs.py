"""Rules for ref names, following `git check-ref-format`."""

from __future__ import annotations

_FORBIDDEN_CHARS = set(" ~^:?*[\\\x7f")


def check_ref_name(ref: str) -> str:
    """Raise ValueError unless `ref` is a well-formed full ref name such as refs/heads/main."""
    if not ref or len(ref) > 255:
        raise ValueError("ref names must have 1 to 255 characters")
    if not ref.startswith("refs/"):
        raise ValueError(f"ref {ref!r} must start with refs/")
    problem = _problem(ref)
    if problem:
        raise ValueError(f"invalid ref name {ref!r}: {problem}")
    return ref


def check_branch_name(branch: str) -> str:
    if not isinstance(branch, str) or not branch or len(branch) > 200:
        raise ValueError("a branch name must have 1 to 200 characters")
    if branch.startswith("-") or branch == "HEAD":
        raise ValueError(f"invalid branch name {branch!r}")
    problem = _problem("refs/heads/" + branch)
    if problem:
        raise ValueError(f"invalid branch name {branch!r}: {problem}")
    return branch


def _problem(ref: str) -> str | None:
    if any(ord(c) < 0x20 or c in _FORBIDDEN_CHARS for c in ref):
        return "it contains a space, control character or one of ~^:?*[\\"
    if "@{" in ref or ref == "@":
        return "it contains @{"
    if ref.endswith("/") or ref.endswith(".") or "//" in ref:
        return "it has an empty component or ends with '/' or '.'"
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "a component starts with '.' or ends with '.lock'"
    if ".." in ref:
        return "it contains '..'"
    return None
