"""Running a CI job's script in a sandbox: bubblewrap, resource limits, a timeout, a log cap,
a disk quota and a user of its own.

The sandbox (`bwrap`) shows only the system directories a build needs, read-only: /usr, /etc,
/opt, the /bin and /lib links, and what the admin adds (FORGE_CI_MOUNTS); nothing of /root,
/home, /srv, /var or /mnt, nor what in /etc other users may not read (/etc/shadow, private
keys, a service's environment file). $FORGE_HOME, wherever it is, is hidden under an empty
tmpfs. The job's writable places are its own, all in one scratch directory on the host: the
workspace, bound at /workspace (its working directory, whatever its host path, so a tool that
makes a path absolute finds it), /tmp and /dev/shm. Their sum is watched against the disk
quota; a job past it is stopped. No network (unless allowed), its own PID namespace, so
nothing started by the job outlives it. Limits are set with setrlimit before exec: CPU time,
address space, processes and file size. When forge runs as root, each job runs under a user id
of its own (`JobUsers`), since the kernel does not hold root to RLIMIT_NPROC and counts it per
user: one job's fork bomb cannot starve another's. As an ordinary user, bwrap puts each job in
a user namespace of its own, as that user.

The script runs under a small bash wrapper that, once the script has ended, looks for
processes it left behind (in its session, or anywhere in the sandbox's PID namespace) and
reports them on a pipe of their own: a job whose script "passed" while something it
started was still running fails, because what it tested was not finished.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
WORKSPACE = "/workspace"  # where the job finds its workspace in the sandbox
# The host's top-level entries a build needs (each only where the host has it): the system's
# programs, libraries and configuration. Everything else (/home, /root, /srv, /var, /mnt,
# /run, a checkout of forge) is not there at all.
SYSTEM_DIRS = ("bin", "etc", "lib", "lib32", "lib64", "libx32", "opt", "sbin", "usr")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
JOB_USER = "forge-ci"  # the name of a job's own user id, in the sandbox's /etc/passwd
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


@dataclass
class Sandbox:
    """How to run one job: where, with what limits, and whether bubblewrap is used."""

    workspace: Path
    hidden: list[Path]  # directories the job must not see ($FORGE_HOME, the repositories)
    timeout: int
    memory_mb: int
    processes: int
    file_mb: int
    log_limit: int
    network: bool = False
    bwrap: str | None = "bwrap"  # None: run without a sandbox (the admin allowed it)
    disk_mb: int = 2048  # the scratch directory's whole size: workspace, /tmp, /dev/shm
    mounts: tuple[str, ...] = ()  # more host directories shown read-only
    uid: int | None = None  # as root: the job's own user id (JobUsers)

    @property
    def scratch(self) -> Path:
        """The job's writable places live here on the host: the workspace and, beside it,
        what the sandbox shows at /tmp and /dev/shm. The quota counts all of it."""
        return self.workspace.parent

    @property
    def tmp(self) -> Path:
        return self.scratch / "tmp"

    @property
    def shm(self) -> Path:
        return self.scratch / "shm"


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


def bwrap_argv(bwrap: str, sandbox: Sandbox, command: list[str], as_root: bool) -> list[str]:
    """As root, bwrap makes no user namespace (the job's user would not be mapped in it); it
    keeps CAP_SETUID/SETGID for `setpriv`, which drops to the job's user with no capabilities
    at all."""
    argv = [bwrap, *system_mounts(extra=sandbox.mounts), *unreadable_in_etc()]
    shown = [Path("/", name) for name in SYSTEM_DIRS] + [Path(path) for path in sandbox.mounts]
    for path in sandbox.hidden:
        if any(path == top or top in path.parents for top in shown):
            argv += ["--tmpfs", str(path)]
    if as_root and sandbox.uid not in (None, NOBODY):  # prepare_scratch wrote them
        argv += ["--ro-bind", str(sandbox.scratch / "passwd"), "/etc/passwd"]
        argv += ["--ro-bind", str(sandbox.scratch / "group"), "/etc/group"]
    argv += ["--bind", str(sandbox.workspace), WORKSPACE, "--chdir", WORKSPACE]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--bind", str(sandbox.tmp), "/tmp", "--bind", str(sandbox.shm), "/dev/shm"]
    argv += ["--perms", "0755", "--dir", "/var", "--symlink", "../tmp", "/var/tmp"]
    argv += ["--remount-ro", "/"]
    if as_root:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not sandbox.network:
            argv.append("--unshare-net")
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    else:
        argv.append("--unshare-all")
        if sandbox.network:
            argv.append("--share-net")
    argv += ["--die-with-parent", "--new-session", "--"]
    if as_root:
        uid = NOBODY if sandbox.uid is None else sandbox.uid
        argv += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return argv + command


def system_mounts(root: str = "/", extra: tuple[str, ...] = ()) -> list[str]:
    """bwrap arguments showing the host's system directories read-only, each on its own.

    Binding them one by one (rather than `/` whole) leaves the sandbox's root a tmpfs of
    bwrap's own, where /workspace can be made even though the host has no such directory;
    it is made read-only once everything is mounted. Symlinks (/bin -> usr/bin) are copied.
    """
    argv: list[str] = []
    for name in SYSTEM_DIRS:
        entry = os.path.join(root, name)
        path = os.path.join("/", name)
        if os.path.islink(entry):
            argv += ["--symlink", os.readlink(entry), path]
        elif os.path.isdir(entry):
            argv += ["--ro-bind", entry, path]
    for path in extra:
        if not os.path.isdir(path):
            continue
        # bwrap would make the directories leading to it closed (0700) to the job's user.
        for parent in reversed(Path(path).parents[:-1]):
            if parent.parts[1] not in SYSTEM_DIRS:
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", path, path]
    return argv


def unreadable_in_etc(etc: str = "/etc") -> list[str]:
    """bwrap arguments covering what in /etc other users may not read: /etc/shadow, sudoers,
    private keys, a service's environment file with its passwords. As root a job runs under
    a user id that could not read them anyway; as an ordinary user it runs as forge's own
    user, which may. A file is covered by an empty one, a directory by an empty tmpfs."""
    argv: list[str] = []
    for top, dirs, files in os.walk(etc):
        for name in list(dirs):
            path = os.path.join(top, name)
            if not _others_may_read(path):
                argv += ["--tmpfs", path]
                dirs.remove(name)  # nothing under it shows anyway
        for name in files:
            path = os.path.join(top, name)
            if not _others_may_read(path):
                argv += ["--ro-bind", "/dev/null", path]
    return argv


def _others_may_read(path: str) -> bool:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True  # gone meanwhile: nothing to cover
    if stat.S_ISLNK(mode):
        return True  # a link shows what it points at, which is judged where it is
    wanted = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & wanted == wanted


class NoJobUser(RuntimeError):
    """Every user id of the range is held by a running job."""


class JobUsers:
    """User ids for jobs run as root, each held by one job at a time, from a range the admin
    sets (FORGE_CI_UID_BASE, FORGE_CI_UIDS). A job holds its id by an flock on a file named
    for it, which ends with the process however it ends; the id is given back only once
    nothing runs under it any more.

    User ids belong to the machine, not to one forge: the locks are in /run (or the system's
    temporary directory), so two forges or test runs on one machine never share an id.
    """

    def __init__(self, base: int, count: int, lock_dir: Path | None = None):
        self.base, self.count = base, count
        self.lock_dir = lock_dir or Path(
            "/run" if os.path.isdir("/run") else tempfile.gettempdir(), "forge-ci-users"
        )

    @contextlib.contextmanager
    def take(self) -> Iterator[int]:
        with contextlib.suppress(FileExistsError):
            self.lock_dir.mkdir(mode=0o700)
        info = self.lock_dir.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise NoJobUser(f"{self.lock_dir} must be a directory only root may write in")
        for uid in range(self.base, self.base + self.count):
            fd = os.open(self.lock_dir / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                _kill_user(uid)
                os.close(fd)
            return
        raise NoJobUser(f"all {self.count} CI user ids are taken (FORGE_CI_UIDS)")


def remove_tree(top: Path) -> None:
    """Remove a job's directory, whatever the job did to it: as an ordinary user, forge owns
    what the job made but may have been shut out of a directory the job closed; it opens
    each one again before going in."""
    if not os.path.lexists(top):
        return
    if os.geteuid() != 0 and not os.path.islink(top):
        with contextlib.suppress(OSError):
            os.chmod(top, 0o700)
        for root, dirs, _files in os.walk(top):
            for name in dirs:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o700)
    shutil.rmtree(top, ignore_errors=True)


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
    as_root = os.geteuid() == 0
    uid = (NOBODY if sandbox.uid is None else sandbox.uid) if as_root else None
    prepare_scratch(sandbox, uid)
    argv = command
    if sandbox.bwrap:
        argv = bwrap_argv(sandbox.bwrap, sandbox, command, as_root)
    job_env = {
        "PATH": PATH,
        # Without a sandbox /tmp is the host's: the job's own is offered instead, where the
        # quota counts it.
        "HOME": "/tmp" if sandbox.bwrap else str(sandbox.tmp),
        "TMPDIR": "/tmp" if sandbox.bwrap else str(sandbox.tmp),
        "USER": JOB_USER,
        "LOGNAME": JOB_USER,
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
        if uid is not None and not sandbox.bwrap:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)

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
        quota = DiskQuota(sandbox.scratch, sandbox.disk_mb * 1024 * 1024)
        quota.start()
        deadline = time.monotonic() + sandbox.timeout
        next_check = time.monotonic() + poll_seconds
        stopped = timed_out = False
        leftovers: list[str] = []
        while proc.poll() is None:
            if copier.overflowed.is_set() or quota.exceeded.is_set():
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
        quota.stop()
        copier.join(timeout=10)
        if copier.overflowed.is_set():
            limit = sandbox.log_limit
            log.write(
                f"\n[forge: the log reached its limit of {limit} bytes; job stopped]\n".encode()
            )
            return Outcome(
                "failed", f"its output passed the log limit ({sandbox.log_limit} bytes)", code
            )
        if quota.exceeded.is_set():
            log.write(
                f"\n[forge: the job used more than its disk quota of {sandbox.disk_mb} MiB "
                "(workspace, /tmp and /dev/shm together); job stopped]\n".encode()
            )
            return Outcome(
                "failed", f"it used more than its disk quota of {sandbox.disk_mb} MiB", code
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


def prepare_scratch(sandbox: Sandbox, uid: int | None) -> None:
    """The job's /tmp and /dev/shm beside its workspace, all given to the job's user; as root
    with a user id of its own, a passwd and a group file naming it, so tools that look the
    user up (git's ident, getpass) find it."""
    for place in (sandbox.tmp, sandbox.shm):
        place.mkdir(exist_ok=True)
        place.chmod(0o1777)
    if uid is None:
        return
    for place in (sandbox.workspace, sandbox.tmp, sandbox.shm):
        for root, dirs, files in os.walk(place):
            os.chown(root, uid, uid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
    if uid != NOBODY:
        for name, entry in (
            ("passwd", f"{JOB_USER}:x:{uid}:{uid}:forge CI job:/tmp:/bin/bash\n"),
            ("group", f"{JOB_USER}:x:{uid}:\n"),
        ):
            host = Path("/etc", name).read_text(errors="replace")
            (sandbox.scratch / name).write_text(host.rstrip("\n") + "\n" + entry)


def _kill_user(uid: int) -> None:
    """Every process of `uid`, wherever it is: `kill -9 -1` as that user (kill spares itself)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "kill", "-9", "-1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )


def disk_used(top: Path) -> int:
    """Bytes the files under `top` take on disk (allocated blocks, a hard link once).

    A directory the job closed to its owner is opened again: as an ordinary user forge owns
    what the job made and may; as root it reads everything anyway."""
    used, seen = 0, set()
    pending = [str(top)]
    while pending:
        path = pending.pop()
        try:
            entries = _entries(path)
        except PermissionError:
            try:
                os.chmod(path, 0o700)
                entries = _entries(path)
            except OSError:
                continue
        except OSError:
            continue  # removed meanwhile
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_nlink > 1:
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
            used += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return used


def _entries(path: str) -> list[os.DirEntry]:
    with os.scandir(path) as found:
        return list(found)


class DiskQuota(threading.Thread):
    """Measures the job's scratch directory while it runs and says when it is over `limit`.

    No filesystem quota is assumed (a default install's disk has none): the tree is walked,
    once a second, or less often for a tree whose walk takes long (at most a tenth of the
    time goes on walking). A job can pass the quota by what it writes between two walks;
    RLIMIT_FSIZE bounds each file, and the job is stopped at the next walk.
    """

    def __init__(self, top: Path, limit: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.top, self.limit, self.interval = top, limit, interval
        self.exceeded = threading.Event()
        self._stopped = threading.Event()

    def run(self) -> None:
        wait = self.interval
        while not self._stopped.wait(wait):
            began = time.monotonic()
            if disk_used(self.top) > self.limit:
                self.exceeded.set()
                return
            wait = max(self.interval, 10 * (time.monotonic() - began))

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=60)


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
