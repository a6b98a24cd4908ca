"""Finding credentials in a file's bytes, with gitleaks' rules (`secret_patterns.toml`, its
high-confidence subset, attributed there and listed in docs/security.md) and forge's own
token format.

A rule is tried only when one of its keywords is in the lower-cased file, as gitleaks does:
most files hold none, so most files cost one lower() and a few `in` tests.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PATTERNS_FILE = Path(__file__).with_name("secret_patterns.toml")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    regex: re.Pattern[bytes]
    keywords: tuple[bytes, ...]
    secret_group: int | None
    entropy: float
    allowed_secrets: tuple[re.Pattern[bytes], ...]
    allowed_paths: tuple[re.Pattern[str], ...]
    stopwords: tuple[bytes, ...]

    def secret_of(self, match: re.Match[bytes]) -> bytes:
        if self.secret_group is not None:
            return match.group(self.secret_group) or b""
        for group in match.groups():
            if group:
                return group
        return match.group(0)


@dataclass(frozen=True)
class Secret:
    """One credential in a file: which kind, on which line (1-based), and its fingerprint
    (a hash of the secret, what a bypass is recorded under: the secret itself is never
    stored or shown)."""

    rule_id: str
    kind: str
    line: int
    fingerprint: str


@cache
def rules() -> tuple[Rule, ...]:
    with PATTERNS_FILE.open("rb") as file:
        config = tomllib.load(file)
    return tuple(_rule(entry) for entry in config["rules"])


def _rule(entry: dict) -> Rule:
    allowlists = entry.get("allowlists", [])
    return Rule(
        id=entry["id"],
        name=entry["name"],
        regex=re.compile(entry["regex"].encode()),
        keywords=tuple(k.lower().encode() for k in entry["keywords"]),
        secret_group=entry.get("secretGroup"),
        entropy=float(entry.get("entropy", 0)),
        allowed_secrets=tuple(
            re.compile(r.encode()) for a in allowlists for r in a.get("regexes", [])
        ),
        allowed_paths=tuple(re.compile(p) for a in allowlists for p in a.get("paths", [])),
        stopwords=tuple(w.lower().encode() for a in allowlists for w in a.get("stopwords", [])),
    )


def kind_of(rule_id: str) -> str:
    """What a rule finds, as the pusher reads it ("AWS access key"); the id if it is gone."""
    return next((rule.name for rule in rules() if rule.id == rule_id), rule_id)


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def shannon_entropy(data: bytes) -> float:
    if not data:
        return 0.0
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def looks_binary(data: bytes) -> bool:
    """git's own test (buffer_is_binary): a NUL in the first 8000 bytes."""
    return b"\0" in data[:8000]


def find_secrets(data: bytes, path: str = "") -> list[Secret]:
    """The credentials in one file's bytes, each secret once per line."""
    lowered = data.lower()
    found: list[Secret] = []
    seen: set[tuple[str, int]] = set()
    for rule in rules():
        if not any(keyword in lowered for keyword in rule.keywords):
            continue
        if any(allowed.search(path) for allowed in rule.allowed_paths):
            continue
        for match in rule.regex.finditer(data):
            secret = rule.secret_of(match)
            if not _counts(rule, secret):
                continue
            line = data.count(b"\n", 0, match.start(0) + _leading(match, secret)) + 1
            mark = fingerprint(secret)
            if (mark, line) in seen:
                continue
            seen.add((mark, line))
            found.append(Secret(rule.id, rule.name, line, mark))
    return sorted(found, key=lambda s: s.line)


def _leading(match: re.Match[bytes], secret: bytes) -> int:
    """Where the secret starts within the match (a rule may match a newline before it)."""
    offset = match.group(0).find(secret)
    return max(offset, 0)


def _counts(rule: Rule, secret: bytes) -> bool:
    if rule.entropy and shannon_entropy(secret) < rule.entropy:
        return False
    if any(allowed.search(secret) for allowed in rule.allowed_secrets):
        return False
    lowered = secret.lower()
    return not any(word in lowered for word in rule.stopwords)
