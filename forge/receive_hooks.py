"""The receive hooks: the top-level `hooks/` package, found by where it is, never by its name.

forge ships two top-level packages side by side, `forge/` and `hooks/` (setup.cfg packages
both). `import hooks` would look the name up on `sys.path`, and the first entry of `sys.path`
is the directory forge was started from: `python -m forge.cli`, `python -m gunicorn` (what
`forge serve` runs), the `gunicorn` script and `python -c` all put it there, ahead of
site-packages; and the finder of an editable install (`pip install -e .`) is asked only after
that whole path search. So a folder named `hooks` in that directory, a project's git hooks
or anything else, was imported in place of forge's: with an `__init__.py` its code ran, without
one it became an empty namespace package, and every push answered 500.

So forge loads the package from the `hooks/` directory beside the `forge/` package it is
running from. That holds for every way of installing forge: in a clone and under
`pip install -e .` both are in the repository root (or, in setuptools' strict editable mode,
both in its link tree), and under a plain `pip install .` both are in site-packages. The
location is taken from this file's path as imported, not resolved through symlinks, so it is the
same installation's `hooks/` as this `forge/`. The package is registered under the private name
`forge._hooks`, not `hooks`: the name `hooks` stays free for whatever else a process imports
under it, a stray folder is never executed, and nothing is looked up on `sys.path`. Inside
`hooks/`, modules therefore import each other relatively (`from .context import PushContext`):
an absolute `from hooks.context import ...` would go back through `sys.path` and let the stray
folder in again (tests/test_stray_hooks.py checks both).

Use it as `from forge.receive_hooks import hooks`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

NAME = "forge._hooks"
HOOKS_DIR = Path(__file__).absolute().parent.parent / "hooks"


def _load() -> ModuleType:
    init = HOOKS_DIR / "__init__.py"
    if not init.is_file():
        raise ImportError(
            f"forge's receive hooks are missing: no {init} beside {Path(__file__).parent} "
            "(forge/ and hooks/ are installed together; reinstall forge)",
            name=NAME,
            path=str(init),
        )
    spec = importlib.util.spec_from_file_location(
        NAME, init, submodule_search_locations=[str(HOOKS_DIR)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module  # before running it, so its relative imports find their parent
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [n for n in sys.modules if n == NAME or n.startswith(NAME + ".")]:
            del sys.modules[name]
        raise
    sys.modules["forge"]._hooks = module  # as an import of a submodule would
    return module


hooks: ModuleType = sys.modules.get(NAME) or _load()
