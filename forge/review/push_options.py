"""Push options of an upload to refs/for/BRANCH, as Gerrit reads them: appended to the ref
(`HEAD:refs/for/main%topic=x,wip,r=bob`) or given to git (`git push -o topic=x -o wip`).

Both forms mean the same; an option in the ref wins over the same one given with `-o`. An
unknown option refuses the push with the list of known ones, so a typo never passes silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from forge.errors import Invalid

MAGIC_PREFIX = "refs/for/"

# name -> what a pusher reads in the refusal of an unknown option.
KNOWN = {
    "topic": "topic=NAME",
    "wip": "wip",
    "work-in-progress": "work-in-progress",
    "ready": "ready",
    "private": "private",
    "remove-private": "remove-private",
    "r": "r=USER",
    "reviewer": "reviewer=USER",
    "cc": "cc=USER",
    "l": "l=Label+N",
    "label": "label=Label+N",
    "hashtag": "hashtag=TAG",
    "t": "t=TAG",
    "m": "m=MESSAGE",
    "message": "message=MESSAGE",
    "submit": "submit",
    "notify": "notify=NONE|OWNER|ALL",
    "title": "title=TEXT",
    "description": "description=TEXT",
}
FLAGS = {"wip", "work-in-progress", "ready", "private", "remove-private", "submit"}
LABEL_VOTE = re.compile(r"^(?P<label>[A-Za-z0-9][A-Za-z0-9_-]*?)(?P<value>[+-]\d+)?$")
HASHTAG = re.compile(r"^[^\s,]{1,64}$")
# git refuses push options with a newline, so the server joins a repeated -o option's values
# with one (forge.git.smart_http) and they are told apart here.
REPEATED = "\n"


@dataclass
class PushOptions:
    topic: str | None = None
    work_in_progress: bool | None = None  # None: leave as it is
    private: bool | None = None
    reviewers: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    labels: list[tuple[str, int]] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    message: str = ""
    submit: bool = False
    title: str | None = None
    description: str | None = None

    @property
    def says_something(self) -> bool:
        """Whether the options change a change even when its commit did not (Gerrit's
        `git push HEAD:refs/for/main%ready` of the same commit)."""
        flags = (self.topic, self.work_in_progress, self.private)
        lists = (self.reviewers, self.cc, self.labels, self.hashtags)
        return any(flag is not None for flag in flags) or any(lists) or self.submit


def split_magic_ref(ref: str) -> tuple[str, list[tuple[str, str]]]:
    """refs/for/main%topic=x,wip -> ("main", [("topic", "x"), ("wip", "")])."""
    target, _, extras = ref[len(MAGIC_PREFIX) :].partition("%")
    items = []
    for item in filter(None, extras.split(",")):
        key, _, value = item.partition("=")
        if key in ("m", "message"):
            # In the ref, Gerrit's message is URL-encoded with `_` or `+` for a space.
            value = unquote_plus(value.replace("_", " "))
        items.append((key, value))
    return target, items


def from_git(options: dict[str, str]) -> list[tuple[str, str]]:
    """The `-o` options as git sent them (a repeated one's values joined, see REPEATED)."""
    return [(key, value) for key, values in options.items() for value in values.split(REPEATED)]


def parse(items: list[tuple[str, str]]) -> PushOptions:
    """Read the options, `-o` ones first and the ref's after them; raise Invalid on any that
    forge does not know or cannot read."""
    parsed = PushOptions()
    for key, value in items:
        if key not in KNOWN:
            known = ", ".join(KNOWN.values())
            raise Invalid(f"unknown push option {key!r}; forge knows: {known}")
        if key in FLAGS and value:
            raise Invalid(f"push option {key} takes no value")
        if key not in FLAGS and key != "notify" and not value.strip():
            raise Invalid(f"push option {key}= needs a value ({KNOWN[key]})")
        value = value.strip()
        if key == "topic":
            if len(value) > 255:
                raise Invalid("the topic is longer than 255 characters")
            parsed.topic = value
        elif key in ("wip", "work-in-progress"):
            parsed.work_in_progress = True
        elif key == "ready":
            parsed.work_in_progress = False
        elif key == "private":
            parsed.private = True
        elif key == "remove-private":
            parsed.private = False
        elif key in ("r", "reviewer"):
            parsed.reviewers.append(value)
        elif key == "cc":
            parsed.cc.append(value)
        elif key in ("l", "label"):
            parsed.labels.append(_label_vote(value))
        elif key in ("hashtag", "t"):
            if not HASHTAG.fullmatch(value):
                raise Invalid(f"hashtag {value!r}: one word of at most 64 characters, no comma")
            parsed.hashtags.append(value)
        elif key in ("m", "message"):
            parsed.message = value
        elif key == "submit":
            parsed.submit = True
        elif key == "title":
            parsed.title = value
        elif key == "description":
            parsed.description = value
        # notify= is accepted for git-review's sake; forge's notifications go to the inbox.
    return parsed


def _label_vote(value: str) -> tuple[str, int]:
    """Code-Review+2 -> ("Code-Review", 2); a bare label means +1, as in Gerrit."""
    match = LABEL_VOTE.fullmatch(value)
    if match is None:
        raise Invalid(f"l={value}: write a label and a value, such as l=Code-Review+1")
    return match["label"], int(match["value"] or "+1")
