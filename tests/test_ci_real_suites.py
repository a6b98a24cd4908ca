"""CI jobs that run real test suites, as a project's CI does: a Python package tested with
unittest (or pytest where the system's python3 has it) and a Makefile project.

Their tools make paths absolute (`os.path.abspath(__file__)`, make's `$(CURDIR)`) and write
in the workspace and in /tmp, as the job's user: `nobody` when forge runs as root (how the
suite runs, and `forge serve` on a fresh machine), the forge's own user otherwise. Each test
runs twice: with FORGE_HOME in /tmp (the suite's usual place) and, as a default install has
it, in a root-only directory elsewhere, which the sandbox hides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from support.ci import jobs_of, log_of, push_ci, work

from forge.ci import sandbox as ci_sandbox

PYTHON_PACKAGE = {
    "calc/__init__.py": (
        "import os\n"
        "\n"
        "DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data.txt')\n"
        "\n"
        "\n"
        "def numbers():\n"
        "    with open(DATA) as f:\n"
        "        return [int(word) for word in f.read().split()]\n"
    ),
    "calc/data.txt": "1 2 3\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import os\n"
        "import tempfile\n"
        "import unittest\n"
        "\n"
        "import calc\n"
        "\n"
        "HERE = os.path.dirname(os.path.abspath(__file__))\n"
        "\n"
        "\n"
        "class CalcTest(unittest.TestCase):\n"
        "    def test_reads_files_by_absolute_path(self):\n"
        "        print('test file at', os.path.abspath(__file__))\n"
        "        self.assertEqual(sum(calc.numbers()), 6)\n"
        "        with open(os.path.join(HERE, 'test_calc.py')) as f:\n"
        "            self.assertIn('CalcTest', f.read())\n"
        "\n"
        "    def test_writes_in_the_workspace_and_in_tmp(self):\n"
        "        out = os.path.join(os.path.dirname(HERE), 'build', 'result.txt')\n"
        "        os.makedirs(os.path.dirname(out), exist_ok=True)\n"
        "        with open(out, 'w') as f:\n"
        "            f.write('sum=6\\n')\n"
        "        with tempfile.NamedTemporaryFile('w+', dir='/tmp') as f:\n"
        "            f.write('written in /tmp')\n"
        "            f.flush()\n"
        "            f.seek(0)\n"
        "            print('tmp file says:', f.read())\n"
    ),
}
PYTHON_JOB = (
    "jobs:\n"
    "  test:\n"
    "    run: |\n"
    "      echo working in $(pwd)\n"
    "      if python3 -m pytest --version >/dev/null 2>&1; then\n"
    "        python3 -m pytest -q -s -p no:cacheprovider\n"
    "      else\n"
    "        python3 -m unittest discover -v\n"
    "      fi\n"
    "      cat build/result.txt\n"
)

MAKE_PROJECT = {
    "Makefile": (
        "CHECK := $(CURDIR)/check.py\n"
        "\n"
        "build/greeting.txt: src/greeting.in\n"
        "\tmkdir -p $(CURDIR)/build\n"
        "\ttr a-z A-Z < $(CURDIR)/src/greeting.in > $(CURDIR)/$@\n"
        "\n"
        "test: build/greeting.txt\n"
        "\tpython3 $(CHECK) $(CURDIR)/build/greeting.txt\n"
        "\tscratch=$$(mktemp /tmp/make-XXXXXX) && echo scratch in tmp > $$scratch"
        " && cat $$scratch && rm $$scratch\n"
        "\n"
        ".PHONY: test\n"
    ),
    "src/greeting.in": "hello make\n",
    "check.py": (
        "import sys\n"
        "\n"
        "with open(sys.argv[1]) as f:\n"
        "    text = f.read().strip()\n"
        "assert text == 'HELLO MAKE', text\n"
        "print('check.py passed:', text)\n"
    ),
}
MAKE_JOB = "jobs:\n  test:\n    run: make test\n"


@pytest.fixture(params=["in-tmp", "outside-tmp"])
def tmp_path(request, tmp_path_factory):
    """Where the test keeps everything, FORGE_HOME (`tmp_path / "home"`) included: pytest's
    own directory in /tmp, or, as a default install has it (/srv/forge, say), a directory
    outside /tmp that others may pass through, with FORGE_HOME in it closed to them (0700).
    In /tmp the sandbox's own fresh /tmp hides FORGE_HOME whatever forge does."""
    if request.param == "in-tmp":
        yield tmp_path_factory.mktemp("real-suites")
        return
    parent = "/var/tmp" if os.path.isdir("/var/tmp") else os.path.expanduser("~")
    path = Path(tempfile.mkdtemp(prefix="forge-test-", dir=parent))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def passed_job_log(database, settings, sha: str, name: str) -> str:
    """Run the worker until the queues are empty; the job `name` of `sha` passed: its log."""
    work(settings)
    job = jobs_of(database, sha)[name]
    log = log_of(settings, job)
    assert job.state == "passed", log
    return log


@pytest.mark.usefixtures("ci")
def test_a_python_package_s_unittest_suite_passes(git, hosted_repo, tmp_path, database, settings):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, PYTHON_JOB, PYTHON_PACKAGE)
    log = passed_job_log(database, settings, sha, "test")
    assert "working in /workspace\n" in log
    assert "test file at /workspace/tests/test_calc.py" in log
    assert "tmp file says: written in /tmp" in log
    assert "Ran 2 tests" in log or "2 passed" in log
    assert log.endswith("sum=6\n")


@pytest.mark.usefixtures("ci")
def test_a_makefile_project_s_make_test_passes(git, hosted_repo, tmp_path, database, settings):
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, MAKE_JOB, MAKE_PROJECT)
    log = passed_job_log(database, settings, sha, "test")
    assert "python3 /workspace/check.py /workspace/build/greeting.txt\n" in log
    assert "check.py passed: HELLO MAKE\n" in log
    assert "scratch in tmp\n" in log


HIDDEN_JOB = """jobs:
  look:
    run: |
      echo user $(id -u) in $(pwd)
      touch /workspace/mine /tmp/mine
      test -z "$(ls -A "$HIDDEN")"
      ! ls "$HIDDEN/repos" || exit 1
      ! cat "$HIDDEN/forge.db" || exit 1
      test ! -e "$HIDDEN/workspaces"
      ! touch /planted || exit 1
      echo nothing of the forge seen
    env: {HIDDEN: "%(home)s"}
"""


@pytest.mark.usefixtures("ci")
def test_the_job_still_sees_nothing_of_forge_home(git, hosted_repo, tmp_path, database, settings):
    """The workspace is reachable at /workspace; $FORGE_HOME (the repositories, the
    database, the workspaces' host paths) is not: empty, or not there at all."""
    (settings.home / "forge.db").write_text("not for jobs\n")  # where a default install has it
    repo = hosted_repo()
    other = hosted_repo("bob", "secret", private=True)
    sha = push_ci(git, repo, tmp_path, HIDDEN_JOB % {"home": settings.home})
    git.run("push", other.push_url, "HEAD:main", cwd=tmp_path / "work")  # another repository
    assert len(list(settings.repos_dir.rglob("*.git"))) >= 2
    assert settings.home.stat().st_mode & 0o777 == 0o700
    log = passed_job_log(database, settings, sha, "look")
    user = int(log.split("user ", 1)[1].split(" ", 1)[0])
    if os.geteuid() == 0:  # a user id of the job's own, from the range
        assert settings.ci.uid_base <= user < settings.ci.uid_base + settings.ci.uid_count
    else:
        assert user == os.geteuid()
    assert log.startswith(f"user {user} in /workspace\n")
    assert "No such file or directory" in log
    assert "Read-only file system" in log
    assert log.endswith("nothing of the forge seen\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="as an ordinary user the job runs as that user")
@pytest.mark.usefixtures("ci")
def test_without_a_sandbox_as_root_the_job_reaches_its_workspace(
    git, hosted_repo, tmp_path, database, settings, monkeypatch
):
    """An admin's FORGE_CI_UNSANDBOXED=1: the job runs as nobody on the host's paths, where
    $FORGE_HOME is closed to it, so its workspace is elsewhere (and removed after)."""
    monkeypatch.setenv("FORGE_CI_BWRAP", "/nonexistent/bwrap")
    monkeypatch.setenv("FORGE_CI_UNSANDBOXED", "1")
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, PYTHON_JOB, PYTHON_PACKAGE)
    log = passed_job_log(database, settings, sha, "test")
    workspace = log.split("working in ", 1)[1].split("\n", 1)[0]
    assert f"test file at {workspace}/tests/test_calc.py" in log
    assert not Path(workspace).exists()
    assert log.endswith("sum=6\n")


# --- as an ordinary user ----------------------------------------------------------------------

# Runs ci_sandbox.run_script on its own (only the standard library), as the user running it.
DRIVER = """
import importlib.util, shutil, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("ci_sandbox", sys.argv[1])
ci_sandbox = importlib.util.module_from_spec(spec)
sys.modules["ci_sandbox"] = ci_sandbox
spec.loader.exec_module(ci_sandbox)
home, script = Path(sys.argv[2]), sys.argv[3]
sandbox = ci_sandbox.Sandbox(
    workspace=home / "workspaces" / "ci-1-1" / "workspace", hidden=[home], timeout=60,
    memory_mb=2048, processes=256, file_mb=100, log_limit=1 << 20, bwrap=shutil.which("bwrap"),
)
outcome = ci_sandbox.run_script(script, {}, sandbox, home / "logs" / "job.log", lambda: False)
print(outcome.state, outcome.reason)
"""


def _as_user(user: str, *argv: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", user, "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": ci_sandbox.PATH, "LANG": "C.UTF-8"},
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser"),
    reason="becoming an ordinary user needs root and runuser (CI runs as root)",
)
def test_as_an_ordinary_user_the_suites_pass_too():
    """forge run by a user other than root: bwrap makes a user namespace and the job runs as
    that user. The worker's Python is root's here, so the sandbox module runs on its own under
    the system's python3, as `nobody`, with a FORGE_HOME that user owns and closes (0700)."""
    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is not installed"
    probe = _as_user("nobody", bwrap, "--ro-bind", "/", "/", "--unshare-all", "true")
    # forge run by an ordinary user needs this of the kernel: not having it is a failure.
    assert probe.returncode == 0, f"no user namespace for ordinary users: {probe.stderr}"
    outside_tmp = "/var/tmp" if os.path.isdir("/var/tmp") else None  # not hidden by /tmp
    base = Path(tempfile.mkdtemp(prefix="forge-user-", dir=outside_tmp))
    try:
        base.chmod(0o755)  # nobody reads the driver and the module from here
        shutil.copy(ci_sandbox.__file__, base / "ci_sandbox.py")
        (base / "driver.py").write_text(DRIVER)
        home = base / "home"
        workspace = home / "workspaces" / "ci-1-1" / "workspace"
        for name, content in {**PYTHON_PACKAGE, **MAKE_PROJECT}.items():
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (workspace / name).write_text(content)
        (home / "logs").mkdir()
        (home / "forge.db").write_text("not for jobs\n")
        shutil.chown(home, "nobody")
        for root, dirs, files in os.walk(home):
            for name in dirs + files:
                shutil.chown(os.path.join(root, name), "nobody")
        home.chmod(0o700)
        script = (
            "echo user $(id -u) in $(pwd)\npython3 -m unittest discover -v\nmake test\n"
            f'test -z "$(ls -A {home})"\n! cat {home}/forge.db || exit 1\necho done\n'
        )
        result = _as_user(
            "nobody", "/usr/bin/python3", str(base / "driver.py"),
            str(base / "ci_sandbox.py"), str(home), script,
        )  # fmt: skip
        log = (home / "logs" / "job.log").read_text(errors="replace")
        assert result.stdout == "passed \n", result.stdout + result.stderr + log
        assert log.startswith("user 65534 in /workspace\n")
        assert "test file at /workspace/tests/test_calc.py" in log
        assert "tmp file says: written in /tmp" in log
        assert "check.py passed: HELLO MAKE\n" in log
        assert "scratch in tmp\n" in log
        assert log.endswith("done\n")
        assert (workspace / "build" / "result.txt").read_text() == "sum=6\n"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_sandbox_binds_the_workspace_at_a_path_of_its_own():
    """Only the system's directories are bound (none at /workspace, and not the host's root
    whole), so the workspace gets a path of its own wherever $FORGE_HOME is; /tmp and
    /dev/shm are the job's own, beside its workspace."""
    sandbox = ci_sandbox.Sandbox(
        workspace=Path("/opt/forge/workspaces/ci-1-1/workspace"),
        hidden=[Path("/opt/forge"), Path("/srv/forge"), Path("/tmp/pytest/home")],
        timeout=1,
        memory_mb=1,
        processes=1,
        file_mb=1,
        log_limit=1,
    )
    argv = " ".join(ci_sandbox.bwrap_argv("bwrap", sandbox, ["true"], as_root=True))
    scratch = "/opt/forge/workspaces/ci-1-1"
    assert " --tmpfs /opt/forge " in argv  # within a directory shown: hidden
    assert "/srv" not in argv and "/tmp/pytest" not in argv  # not shown at all
    assert f" --bind {scratch}/workspace /workspace --chdir /workspace " in argv
    assert f" --bind {scratch}/tmp /tmp --bind {scratch}/shm /dev/shm " in argv
    assert " / / " not in argv  # the host's root is not bound whole
    assert " --remount-ro / " in argv
