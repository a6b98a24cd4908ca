"""Rules for the names of users and repositories."""

import re

from forge.errors import Invalid

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,38}")
REPO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# Names that would collide with forge's own URLs (/login, /api/v3, ...) or confuse people.
RESERVED_USER_NAMES = frozenset(
    [
        "about",
        "admin",
        "api",
        "assets",
        "avatars",
        "explore",
        "favicon.ico",
        "forge-ci",  # the account forge's CI votes Verified with
        "healthz",
        "help",
        "install",
        "issues",
        "login",
        "logout",
        "metrics",  # forge.web.observe answers /metrics
        "new",
        "notifications",
        "org",
        "organizations",  # /organizations/new creates one
        "orgs",
        "pulls",
        "repos",
        "review",
        "robots.txt",
        "search",
        "settings",
        "signup",
        "site",
        "static",
        "user",
        "users",
    ]
)
RESERVED_REPO_NAMES = frozenset({"settings", "new"})


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise Invalid(
            f"invalid name {name!r}: use 1 to 39 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    if name.lower() in RESERVED_USER_NAMES or name.lower().endswith((".git", ".atom")):
        raise Invalid(f"the name {name!r} is reserved", field="name")
    return name


def check_repo_name(name: str) -> str:
    if not isinstance(name, str) or not REPO_NAME_RE.fullmatch(name):
        raise Invalid(
            f"invalid repository name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    if name.lower() in RESERVED_REPO_NAMES or name.lower().endswith(".git"):
        raise Invalid(f"the repository name {name!r} is reserved", field="name")
    return name
