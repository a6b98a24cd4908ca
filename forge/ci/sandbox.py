"""Running a CI job's script in a sandbox: bubblewrap, resource limits, a timeout, a log cap.

The sandbox (`bwrap`) sees the machine's system read-only, a fresh /tmp anyone may write
(sticky, as on the host), /root and $FORGE_HOME hidden under empty tmpfs, no network (unless
allowed), and its own PID namespace, so nothing started by the job outlives it. The workspace
is bound at /workspace, the job's working directory, whatever its path on the host: that path
lies under $FORGE_HOME, hidden and closed to the job's user, so a tool that made a path
absolute (`os.path.abspath(__file__)`, make's `$(CURDIR)`) could not open it there. Limits
are set with setrlimit before exec: CPU time, address space, processes and file size. When
forge runs as root the job runs as `nobody`, since the kernel does not hold root to
RLIMIT_NPROC; the workspace is then given to `nobody`.

The script runs under a small bash wrapper that, once the script has ended, looks for
processes it left behind (in its session, or anywhere in the sandbox's PID namespace) and
reports them on a pipe of their own: a job whose script "passed" while something it
started was still running fails, because what it tested was not finished.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
WORKSPACE = "/workspace"  # where the job finds its workspace in the sandbox
# Made fresh in the sandbox rather than bound from the host: a tmpfs each, or bwrap's own.
_NOT_BOUND = frozenset({"proc", "dev", "tmp", "root", WORKSPACE.lstrip("/")})
# Where the job sees nothing of the host: empty tmpfs, or its own workspace.
_SHADOWED = ("/tmp", "/root", WORKSPACE)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


@dataclass
class Sandbox:
    """How to run one job: where, with what limits, and whether bubblewrap is used."""

    workspace: Path
    hidden: list[Path]  # directories the job must not see ($FORGE_HOME)
    timeout: int
    memory_mb: int
    processes: int
    file_mb: int
    log_limit: int
    network: bool = False
    bwrap: str | None = "bwrap"  # None: run without a sandbox (the admin allowed it)


@dataclass
class Outcome:
    state: str  # passed, failed, timed_out, cancelled
    reason: str
    exit_code: int | None


# $1 the script, $2 "ns" inside a PID namespace of its own, $3 the report pipe's fd. Only
# builtins while looking, so the wrapper starts no process of its own then. A process caught
# between fork and exec still shows the script's own command line: when the first look finds
# something, a second one after a tenth of a second names what it became.
WRAPPER = r"""
report_fd=$3
bash -e -c "$1" forge-job {report_fd}>&-
code=$?
shopt -s nullglob
look() {  # $1: where to write what is found (the report's fd, or nothing to only count)
  found=0
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [ "$pid" = "$$" ] && continue
    [ "$namespace" = ns ] && [ "$pid" = 1 ] && continue
    read -r stat 2>/dev/null < "$proc/stat" || continue
    # after the command name: state, parent, process group, session
    fields=(${stat##*") "})
    [ "${fields[0]}" = Z ] && continue
    [ "$namespace" = ns ] || [ "${fields[3]}" = "$$" ] || continue
    found=$((found + 1))
    [ -n "$1" ] || continue
    mapfile -d '' -t argv 2>/dev/null < "$proc/cmdline"
    # cmdline reads empty while a process is being replaced by exec: name it by its comm then
    [ "${#argv[@]}" -gt 0 ] || { argv=${stat#*\(}; argv=("${argv%\)*}"); }
    printf '%s\n' "${argv[*]}" >&"$1"
    [ "$found" -ge 5 ] && break
  done
}
namespace=$2
look ""
if [ "$found" -gt 0 ]; then
  sleep 0.1
  look "$report_fd"
fi
exit $code
"""

SIGNAL_REASONS = {
    signal.SIGXFSZ: "it wrote a file larger than the file size limit",
    signal.SIGXCPU: "it used up its CPU time",
    signal.SIGKILL: "it was killed (out of memory?)",
    signal.SIGSEGV: "it crashed (segmentation fault)",
}


def bwrap_argv(bwrap: str, sandbox: Sandbox, command: list[str], as_nobody: bool) -> list[str]:
    """As root, bwrap makes no user namespace (nobody would not be mapped in it); it keeps
    CAP_SETUID/SETGID for `setpriv`, which drops to nobody with no capabilities at all."""
    argv = [bwrap, *system_mounts()]
    argv += ["--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/root"]
    for path in sandbox.hidden:
        if not _shadowed(path):
            argv += ["--tmpfs", str(path)]
    argv += ["--bind", str(sandbox.workspace), WORKSPACE, "--chdir", WORKSPACE]
    argv += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/"]
    if as_nobody:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not sandbox.network:
            argv.append("--unshare-net")
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    else:
        argv.append("--unshare-all")
        if sandbox.network:
            argv.append("--share-net")
    argv += ["--die-with-parent", "--new-session", "--"]
    if as_nobody:
        argv += [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return argv + command


def system_mounts(root: str = "/") -> list[str]:
    """bwrap arguments showing the host's top-level entries read-only, each on its own.

    Binding them one by one (rather than `/` whole) leaves the sandbox's root a tmpfs of
    bwrap's own, where /workspace can be made even though the host has no such directory;
    it is made read-only once everything is mounted. Symlinks (/bin -> usr/bin) are copied.
    """
    argv: list[str] = []
    with os.scandir(root) as found:
        entries = sorted(found, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name in _NOT_BOUND:
            continue
        path = os.path.join("/", entry.name)
        if entry.is_symlink():
            argv += ["--symlink", os.readlink(entry.path), path]
        elif entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
            argv += ["--ro-bind", entry.path, path]
    return argv


def _shadowed(path: Path) -> bool:
    """Whether `path` lies where the sandbox shows nothing of the host anyway: in /tmp or
    /root (empty tmpfs) or /workspace (the job's own). A tmpfs of its own there would only
    leave empty directories behind (the path of $FORGE_HOME in the job's /tmp, say)."""
    path = Path(path)
    return any(path == Path(top) or Path(top) in path.parents for top in _SHADOWED)


def find_bwrap(command: str) -> str | None:
    return shutil.which(command)


def run_script(
    script: str,
    env: dict[str, str],
    sandbox: Sandbox,
    log_path: Path,
    should_stop: Callable[[], bool],
    poll_seconds: float = 1.0,
) -> Outcome:
    """Run `script` with bash -e; its output goes to `log_path`, up to the log limit."""
    report_read, report_write = os.pipe()
    namespace = "ns" if sandbox.bwrap else ""
    command = ["bash", "-c", WRAPPER, "forge-ci", script, namespace, str(report_write)]
    as_nobody = os.geteuid() == 0
    if as_nobody:
        _give_to_nobody(sandbox.workspace)
    argv = command
    if sandbox.bwrap:
        argv = bwrap_argv(sandbox.bwrap, sandbox, command, as_nobody)
    job_env = {
        "PATH": PATH,
        "HOME": "/tmp" if sandbox.bwrap else str(sandbox.workspace),
        "LANG": "C.UTF-8",
        "CI": "true",
        **env,
    }
    limits = {
        resource.RLIMIT_CPU: sandbox.timeout + 5,
        resource.RLIMIT_AS: sandbox.memory_mb * 1024 * 1024,
        resource.RLIMIT_NPROC: sandbox.processes,
        resource.RLIMIT_FSIZE: sandbox.file_mb * 1024 * 1024,
        resource.RLIMIT_CORE: 0,
    }

    def prepare() -> None:  # in the child, before exec
        os.setsid()  # its own process group, killed as a whole
        _die_with_parent()
        for which, value in limits.items():
            resource.setrlimit(which, (value, value))
        if as_nobody and not sandbox.bwrap:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, os.fdopen(report_read, "rb", buffering=0) as report:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=sandbox.workspace,
                env=job_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=prepare,
                pass_fds=(report_write,),
            )
        finally:
            os.close(report_write)
        copier = _LogCopier(proc.stdout, log, sandbox.log_limit)
        copier.start()
        deadline = time.monotonic() + sandbox.timeout
        next_check = time.monotonic() + poll_seconds
        stopped = timed_out = False
        leftovers: list[str] = []
        while proc.poll() is None:
            if copier.overflowed.is_set():
                break
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            # Asking whether to stop costs a database write (the heartbeat): once a second.
            if now >= next_check:
                if should_stop():
                    stopped = True
                    break
                next_check = now + poll_seconds
            # A short wait, so a job's end is seen at once: most jobs take well under 1 s.
            copier.overflowed.wait(0.02)
        else:
            leftovers = _read_report(report)
        # The whole group goes: whatever the script left running in the background too.
        _kill_group(proc.pid)
        code = proc.wait()
        copier.join(timeout=10)
        if copier.overflowed.is_set():
            limit = sandbox.log_limit
            log.write(
                f"\n[forge: the log reached its limit of {limit} bytes; job stopped]\n".encode()
            )
            return Outcome(
                "failed", f"its output passed the log limit ({sandbox.log_limit} bytes)", code
            )
        if timed_out:
            log.write(
                f"\n[forge: timed out after {sandbox.timeout} s; the job was killed]\n".encode()
            )
            return Outcome(
                "timed_out", f"it ran longer than its timeout of {sandbox.timeout} s", code
            )
        if stopped:
            log.write(b"\n[forge: cancelled]\n")
            return Outcome("cancelled", "cancelled", code)
        if leftovers and code == 0:
            listed = ", ".join(leftovers)
            log.write(
                f"\n[forge: the job left background processes running ({listed}); "
                "they were killed]\n".encode()
            )
            return Outcome("failed", f"it left background processes running: {listed}", code)
    if code == 0:
        return Outcome("passed", "", 0)
    return Outcome("failed", _failure_reason(code), code)


def _read_report(report, wait_seconds: float = 5.0) -> list[str]:
    """The wrapper's list of leftover processes: read until the wrapper's end closes.

    Leftovers never hold the pipe (the script runs with it closed), so end of file comes
    as soon as the wrapper and bwrap are gone; the wait only bounds a sandbox slow to end.
    """
    data = b""
    deadline = time.monotonic() + wait_seconds
    while len(data) < 65536:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([report], [], [], remaining)[0]:
            break
        chunk = report.read(4096)
        if not chunk:
            break
        data += chunk
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _failure_reason(code: int) -> str:
    signum = -code if code < 0 else code - 128 if code > 128 else None
    if signum in SIGNAL_REASONS:
        return f"exited with code {code}: {SIGNAL_REASONS[signum]}"
    return f"exited with code {code}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _give_to_nobody(workspace: Path) -> None:
    for root, dirs, files in os.walk(workspace):
        os.chown(root, NOBODY, NOBODY)
        for name in dirs + files:
            os.chown(os.path.join(root, name), NOBODY, NOBODY, follow_symlinks=False)


class _LogCopier(threading.Thread):
    """Copies the job's output to its log until the limit, then says it overflowed."""

    def __init__(self, pipe, log, limit: int):
        super().__init__(daemon=True)
        self.pipe, self.log, self.limit = pipe, log, limit
        self.written = 0
        self.overflowed = threading.Event()

    def run(self) -> None:
        fd = self.pipe.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            room = self.limit - self.written
            if room > 0:
                self.log.write(chunk[:room])
                self.log.flush()
                self.written += min(room, len(chunk))
            if len(chunk) > room:
                self.overflowed.set()
                break
        self.pipe.close()
