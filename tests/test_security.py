"""forge as an attacker meets it: each case of the security review, and where its test is.

The CI sandbox's cases are here; the others live beside the code they exercise, and
`test_every_case_names_a_test_that_exists` keeps this index true. docs/security.md gives
the threat model and each bound's setting.

1. A 1 GiB blob in a 1 MB pack is refused from its header; inflation is bounded.
   test_git_bad_input::test_a_gigabyte_blob_in_a_megabyte_pack_is_refused_from_its_header
   test_git_bad_input::test_a_delta_declaring_a_gigabyte_result_is_refused_before_it_is_applied
   test_git_bad_input::test_an_entry_inflating_past_its_declared_size_is_stopped_there
2. Negotiation is capped, and costs time linear in what it reads.
   test_git_bad_input::test_too_many_have_lines_are_refused_with_an_error_line
   test_git_bad_input::test_an_oversized_negotiation_or_a_flood_of_flushes_is_refused
   test_git_bad_input::test_many_common_haves_under_multi_ack_cost_a_linear_negotiation
3. API and form bodies are bounded (413), and so is JSON's depth (400).
   test_bounds::test_a_json_body_over_the_limit_is_413_in_githubs_shape
   test_bounds::test_a_chunked_body_is_cut_off_at_the_limit
   test_bounds::test_json_nested_too_deep_is_400_problems_parsing_json
   test_bounds::test_a_web_form_over_the_limit_is_a_413_page
4. Sessions end at logout and at a password change; login renews the CSRF token and session.
   test_sessions
5. Guessing is throttled per address, and the owner is never locked out.
   test_login_throttle
6. A CI job sees only the system's directories, has a disk quota and a user id of its own.
   test_security::test_a_ci_job_sees_only_the_systems_directories
   test_security::test_a_ci_job_past_its_disk_quota_is_stopped_and_its_space_freed
   test_security::test_each_ci_job_has_a_user_id_of_its_own_so_one_cannot_starve_another
7. Ref names follow `git check-ref-format` and GitHub's refusals, on every path.
   test_bounds::test_the_api_refuses_refs_git_would_take_but_github_does_not
   test_bounds::test_a_push_of_such_names_is_rejected_in_gits_own_form
8. A CI job run as root reaches its own workspace and /tmp.
   test_ci_real_suites
fuzz. Pkt-lines, packs, ref names, paths and markdown hold under random input.
   test_fuzz
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

import pytest
from support.ci import jobs_of, log_of, push_ci, work

from forge.ci import sandbox as ci_sandbox

TESTS = Path(__file__).parent
AS_ROOT = os.geteuid() == 0


def test_every_case_names_a_test_that_exists():
    """The index above points at real test functions (or modules), so it cannot rot."""
    cases = re.findall(r"^(\d+|fuzz)\. ", __doc__, re.MULTILINE)
    assert cases == ["1", "2", "3", "4", "5", "6", "7", "8", "fuzz"]
    named = re.findall(r"^   (test_\w+)(?:::(test_\w+))?$", __doc__, re.MULTILINE)
    assert len(named) >= len(cases)
    for module, name in named:
        path = TESTS / f"{module}.py"
        assert path.exists(), f"{module} is named above but does not exist"
        defined = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
        assert defined, f"{module} holds no test"
        assert not name or name in defined, f"{module}::{name} is named above but does not exist"


# --- 6: what a CI job sees ----------------------------------------------------------------

LOOK_JOB = """jobs:
  look:
    run: |
      echo user $(id -u) $(whoami) in $(pwd)
      echo top: $(ls / | tr '\\n' ' ')
      for gone in /home /root /mnt /run /var/lib "$HIDDEN"; do
        test ! -e "$gone" || { echo "$gone is there"; exit 1; }
      done
      test "$(ls /srv)" = "$(basename "$TOOLS")"  # only what the admin added
      ! cat /etc/shadow 2>/dev/null || { echo shadow read; exit 1; }
      ! grep -q planted-secret "$SECRET" 2>/dev/null || { echo secret read; exit 1; }
      grep -q '^root:' /etc/passwd
      bash "$TOOLS/tool.sh"
      ! touch "$TOOLS/planted" 2>/dev/null || { echo wrote into a mount; exit 1; }
      echo scratch > /tmp/a && echo scratch > /var/tmp/b && echo scratch > /dev/shm/c
      echo nothing of the host seen
    env: {HIDDEN: "%(home)s", SECRET: "%(secret)s", TOOLS: "%(tools)s"}
"""


@pytest.fixture
def planted():
    """A secret in /etc only its owner's group may read, as a service's environment file is
    (/etc/forge/forge.env), and a directory of tools in /srv, which jobs do not see."""
    name = f"forge-test-{secrets.token_hex(4)}"
    secret, tools = Path("/etc") / f"{name}.env", Path("/srv") / name
    secret.write_text("PASSWORD=planted-secret\n")
    secret.chmod(0o640)
    tools.mkdir(parents=True)
    (tools / "tool.sh").write_text("echo the admin tool ran\n")
    tools.chmod(0o755)
    yield secret, tools
    secret.unlink(missing_ok=True)
    shutil.rmtree(tools, ignore_errors=True)


@pytest.mark.skipif(not AS_ROOT, reason="plants files in /etc and /srv, as only root may")
@pytest.mark.usefixtures("ci")
def test_a_ci_job_sees_only_the_systems_directories(
    git, hosted_repo, tmp_path, database, settings, planted, monkeypatch
):
    """No /home, /root, /srv, /var/lib or $FORGE_HOME; what in /etc others may not read is
    not readable (a service's secrets); FORGE_CI_MOUNTS adds a directory, read-only; /tmp,
    /var/tmp and /dev/shm are writable. As root the job is a user of its own that the
    sandbox's /etc/passwd names."""
    secret, tools = planted
    monkeypatch.setenv("FORGE_CI_MOUNTS", str(tools))
    repo = hosted_repo()
    job = LOOK_JOB % {"home": settings.home, "secret": secret, "tools": tools}
    sha = push_ci(git, repo, tmp_path, job)
    work(settings)
    found = jobs_of(database, sha)["look"]
    log = log_of(settings, found)
    assert found.state == "passed", log
    top = set(log.split("top: ", 1)[1].split("\n", 1)[0].split())
    assert top <= {*ci_sandbox.SYSTEM_DIRS, "dev", "proc", "tmp", "var", "workspace", "srv"}
    assert {"usr", "etc", "tmp", "workspace"} <= top
    assert "the admin tool ran\n" in log
    assert log.endswith("nothing of the host seen\n")
    assert " forge-ci in /workspace\n" in log
    assert not (tools / "planted").exists()


DISK_JOB = """jobs:
  small:
    run: |
      head -c 3M /dev/zero > /workspace/a
      echo small fits
  big:
    run: |
      head -c 3M /dev/zero > /workspace/a
      head -c 3M /dev/zero > /tmp/b
      head -c 3M /dev/zero > /dev/shm/c
      echo wrote 9 MiB
      sleep 60
      echo still running
"""


@pytest.mark.usefixtures("ci")
def test_a_ci_job_past_its_disk_quota_is_stopped_and_its_space_freed(
    git, hosted_repo, tmp_path, database, settings, monkeypatch
):
    """FORGE_CI_DISK_MB counts the workspace, /tmp and /dev/shm together: 9 MiB in three
    places, none over the file limit, stops a job with a quota of 8 and fails it saying
    why (it would have slept and passed); 3 MiB passes. Nothing of either is left."""
    monkeypatch.setenv("FORGE_CI_DISK_MB", "8")
    repo = hosted_repo()
    sha = push_ci(git, repo, tmp_path, DISK_JOB)
    work(settings)
    jobs = jobs_of(database, sha)
    small, big = jobs["small"], jobs["big"]
    assert small.state == "passed", log_of(settings, small)
    log = log_of(settings, big)
    assert big.state == "failed", log
    assert big.reason == "it used more than its disk quota of 8 MiB"
    assert "wrote 9 MiB\n" in log and "still running" not in log
    assert "[forge: the job used more than its disk quota of 8 MiB" in log
    assert list(settings.workspaces_dir.iterdir()) == []


def test_the_disk_quota_counts_what_a_job_hid_from_its_owner(tmp_path):
    """A directory closed to everyone (chmod 000) is still measured and removed: as an
    ordinary user forge owns it and opens it again; as root it reads it anyway."""
    hidden = tmp_path / "scratch" / "workspace" / "closed"
    hidden.mkdir(parents=True)
    (hidden / "data").write_bytes(b"x" * (2 << 20))
    os.link(hidden / "data", hidden / "same-data")  # a hard link takes no more room
    hidden.chmod(0)
    used = ci_sandbox.disk_used(tmp_path / "scratch")
    assert 2 << 20 <= used < 3 << 20
    ci_sandbox.remove_tree(tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists()


# --- 6: a user id for each job ------------------------------------------------------------

HOLDER = "for i in $(seq 14); do sleep 60 & done\ntouch /workspace/holding\nwait\n"
CANNOT_FORK = "fork: retry: Resource temporarily unavailable"
STARTER = "for i in $(seq 10); do sleep 0.3 & done\nwait\necho started ten\n"


def _sandbox(scratch: Path, uid: int) -> ci_sandbox.Sandbox:
    workspace = scratch / "workspace"
    workspace.mkdir(parents=True)
    return ci_sandbox.Sandbox(
        workspace=workspace,
        hidden=[],
        timeout=90,
        memory_mb=2048,
        processes=20,
        file_mb=10,
        log_limit=1 << 16,
        bwrap=shutil.which("bwrap"),
        uid=uid,
    )


def _holder_and_starter(tmp_path: Path, holder_uid: int, starter_uid: int):
    """Run HOLDER until it holds its processes, then STARTER beside it; both outcomes and
    the starter's log. The starter is stopped once it cannot fork (bash would retry for
    half a minute)."""
    stop = threading.Event()
    holder = _sandbox(tmp_path / "holder", holder_uid)
    starter = _sandbox(tmp_path / "starter", starter_uid)
    outcomes = {}

    def run_holder():
        outcomes["holder"] = ci_sandbox.run_script(
            HOLDER, {}, holder, tmp_path / "holder.log", stop.is_set, poll_seconds=0.1
        )

    thread = threading.Thread(target=run_holder)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (holder.workspace / "holding").exists():
            assert thread.is_alive(), (tmp_path / "holder.log").read_text()
            assert time.monotonic() < deadline, "the holder never started its processes"
            time.sleep(0.05)
        starter_log = tmp_path / "starter.log"
        outcomes["starter"] = ci_sandbox.run_script(
            STARTER, {}, starter, starter_log, lambda: CANNOT_FORK in starter_log.read_text(),
            poll_seconds=0.1,
        )  # fmt: skip
    finally:
        stop.set()
        thread.join(timeout=60)
    return outcomes["holder"], outcomes["starter"], (tmp_path / "starter.log").read_text()


@pytest.mark.skipif(not AS_ROOT, reason="as an ordinary user every job is that user")
@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_each_ci_job_has_a_user_id_of_its_own_so_one_cannot_starve_another(tmp_path):
    """Two jobs, each allowed 20 processes: one holds 15 while the other starts 10 more.
    Under one shared user (as every job was `nobody`) the kernel counts them together and
    the second cannot fork; with a user id each (JobUsers), it starts all ten."""
    users = ci_sandbox.JobUsers(1_900_000_000, 1024)
    with users.take() as first, users.take() as second:
        assert first != second
        holder, starter, log = _holder_and_starter(tmp_path / "own", first, second)
        assert starter.state == "passed", log
        assert log.endswith("started ten\n")
        assert holder.state == "cancelled"
        _, shared, log = _holder_and_starter(tmp_path / "shared", first, first)
        assert shared.state == "cancelled", log  # stopped once it could not fork
        assert CANNOT_FORK in log
