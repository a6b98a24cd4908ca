"""Highlighting in diffs: a long file is highlighted around the lines its hunks show, not
whole (that was 10 of the 11 s of a compare of two git.git releases), and what is shown is
still the file's text, coloured as the language it is in."""

from __future__ import annotations

import html

from markupsafe import Markup

from forge.git.browse import RepoReader
from forge.repos.file_views import DIFF_HIGHLIGHT_LINES, file_diff


def test_a_long_files_diff_shows_its_lines_highlighted_around_the_change(git, tmp_path):
    """2,500 lines: a diff used to show a file that long plain, unless its page had been
    highlighted whole before."""
    lines = [f"value_{i} = {i}" for i in range(2500)]
    lines[1600:1603] = ['text = """', "inside <a> string", '"""']
    work = git.init(tmp_path / "work", {"long.py": "\n".join(lines) + "\n"})
    old = git.head(work)
    lines[1604] = "value_1604 = 'changed'"
    new = git.commit(work, {"long.py": "\n".join(lines) + "\n"}, "change one line")
    assert len(lines) > DIFF_HIGHLIGHT_LINES

    with RepoReader(work / ".git") as reader:
        [change] = reader.changes(reader.commit(old).tree, reader.commit(new).tree)
        diff = file_diff(reader, change)

    shown = [line for hunk in diff.hunks for line in hunk.lines]
    assert (diff.additions, diff.deletions) == (1, 1)
    # Each shown line is its line of the file, escaped: the text is untouched.
    for line in shown:
        number = line.new or line.old
        text = html.unescape(Markup(line.html).striptags())
        if line.kind == "del":
            assert text == f"value_{number - 1} = {number - 1}"
        else:
            assert text == lines[number - 1], number
    by_text = {html.unescape(Markup(line.html).striptags()): str(line.html) for line in shown}
    assert "&lt;a&gt;" in by_text["inside <a> string"]
    # Coloured as Python: the string opened three lines above the change is read as a string.
    assert 'class="s' in by_text["inside <a> string"]
    assert 'class="s1"' in by_text["value_1604 = 'changed'"]
