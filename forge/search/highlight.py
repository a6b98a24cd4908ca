"""Where the words of a search appear in a text: the lines to show and the spans to mark.

Plain values only (the template marks the spans, escaping the rest), computed for the page of
results being shown, on both engines alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 300


@dataclass(frozen=True)
class Fragment:
    line: int  # 1-based; 0 for a text that is not shown by lines (a title)
    text: str
    spans: tuple[tuple[int, int], ...]  # (start, end) of each match in `text`

    def pieces(self) -> list[tuple[str, bool]]:
        """The text cut at the spans: (piece, is a match)."""
        out, at = [], 0
        for start, end in self.spans:
            if start > at:
                out.append((self.text[at:start], False))
            out.append((self.text[start:end], True))
            at = end
        if at < len(self.text):
            out.append((self.text[at:], False))
        return out


def _pattern(words: list[str]) -> re.Pattern | None:
    words = sorted({w for w in words if w}, key=len, reverse=True)
    if not words:
        return None
    # The engines' words are runs of letters and digits: `url` is found in `url_for`.
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)


def spans(text: str, words: list[str]) -> tuple[tuple[int, int], ...]:
    pattern = _pattern(words)
    if pattern is None:
        return ()
    return tuple(m.span() for m in pattern.finditer(text))


def marked(text: str, words: list[str]) -> Fragment:
    """A short text (a title, a description) with its matches."""
    return Fragment(0, text, spans(text, words))


def line_fragments(text: str, words: list[str], limit: int = 3, context: int = 1):
    """Up to `limit` groups of lines around the first lines holding a word, as GitHub shows
    a file's matches; each group a list of Fragments."""
    pattern = _pattern(words)
    if pattern is None:
        return []
    lines = text.splitlines()
    groups: list[list[Fragment]] = []
    last_shown = -1
    for number, line in enumerate(lines):
        if len(groups) >= limit and number > last_shown:
            break
        if not pattern.search(line[:MAX_LINE]):
            continue
        first = max(number - context, last_shown + 1)
        shown = range(first, min(number + context + 1, len(lines)))
        group = [
            Fragment(i + 1, lines[i][:MAX_LINE], spans(lines[i][:MAX_LINE], words)) for i in shown
        ]
        if groups and first == last_shown + 1:
            groups[-1].extend(group)
        else:
            groups.append(group)
        last_shown = shown[-1] if len(shown) else last_shown
    return groups[:limit]
