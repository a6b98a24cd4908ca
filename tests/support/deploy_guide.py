"""docs/deploy.md as a test follows it: the environment file and the systemd units' commands,
read from the guide itself, so a test that deploys with them proves the guide as written.

The guide names files by a line of their own (`/etc/forge/forge.env`:) followed by a fenced
block; units give their command as `ExecStart=`.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
VENV_BIN = "/opt/forge/venv/bin/"
# The guide's programs, as this interpreter runs them (the tests have no /opt/forge venv).
PROGRAMS = {
    "gunicorn": [sys.executable, "-m", "gunicorn"],
    "forge": [sys.executable, "-m", "forge.cli"],
}


def files() -> dict[str, str]:
    """Path -> content of every file the guide writes out."""
    text = GUIDE.read_text()
    found = re.findall(r"^`(/[^`]+)`:\n\n```[a-z]*\n(.*?)^```", text, flags=re.M | re.S)
    return dict(found)


def environment() -> dict[str, str]:
    """The guide's /etc/forge/forge.env."""
    lines = files()["/etc/forge/forge.env"].splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def command(unit: str, replace: dict[str, str] | None = None) -> list[str]:
    """The unit's ExecStart as an argv for this interpreter; `replace` swaps whole arguments
    (a bind address for a free port, say)."""
    content = files()[f"/etc/systemd/system/{unit}"]
    [line] = [x for x in content.splitlines() if x.startswith("ExecStart=")]
    program, *args = shlex.split(line.removeprefix("ExecStart="))
    assert program.startswith(VENV_BIN), program
    swaps = replace or {}
    return [*PROGRAMS[program.removeprefix(VENV_BIN)], *(swaps.get(a, a) for a in args)]
