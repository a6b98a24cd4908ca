"""Benchmark: forge's code browser on real histories against cgit and gitweb.

Three real repositories, as published: git.git (82,000 commits on master, 1,000 tags; bring it
with the search tool's `fetch github:git/git`, or give any bare clone as --git-git), flask and
dulwich (the bundles in ../shared/testdata). Each is copied into a forge home as a push would
leave it, with the commit-graph forge's maintenance writes, and the three servers read that same
directory: forge under gunicorn (2 workers x 8 threads, as `forge serve` runs it), and Debian's
`cgit` (without its page cache) and `gitweb` as CGI programs behind a tiny WSGI-to-CGI bridge
running under the same gunicorn (`apt-get install cgit gitweb`). For each repository and page:

  first     forge's first request ever (nothing cached in memory or on disk)
  restart   the first request after restarting the server, once it answers (forge: its page
            cache on disk kept)
  p50, p95  of sequential requests afterwards (warm)

cgit and gitweb keep nothing between requests (each request is a new process), so for them the
three are the same measurement. The machine is shared: only ratios measured in the same run
mean much.

    python bench/real_repos.py [--git-git PATH] [--repos git,flask,dulwich] [--requests 9]
                               [--skip PAGE ...] [--cap SECONDS]

Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from forge_bench import free_port, wait_until_up
from web import WORKERS, Client, Server, gunicorn, percentile, serve_forge

HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parent.parent / "shared" / "testdata"
MIRROR = Path("/work/.mirror/git+git/repo")
CGIT = Path("/usr/lib/cgit/cgit.cgi")
GITWEB = Path("/usr/share/gitweb/gitweb.cgi")


@dataclass
class RealRepo:
    """A repository and what each page of the benchmark shows of it."""

    name: str
    branch: str
    tree: str  # a folder a few levels down
    blob: str  # a large source file: its page, history and blame
    releases: tuple[str, str]  # compare old...new


REPOS = {
    "git": RealRepo("git", "master", "t/t4013", "diff.c", ("v2.40.0", "v2.41.0")),
    "flask": RealRepo("flask", "main", "src/flask/json", "src/flask/app.py", ("2.3.0", "3.0.0")),
    "dulwich": RealRepo(
        "dulwich", "main", "tests/compat", "dulwich/repo.py", ("dulwich-0.21.0", "dulwich-0.22.0")
    ),
}
PAGES = ["home", "deep tree", "large blob", "log page 1", "log page 200", "path history",
         "blame", "commit", "compare"]  # fmt: skip


def git(*args, cwd=None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode()


# --- the repositories -------------------------------------------------------------------------


def prepare_home(root: Path, sources: dict[str, Path]) -> Path:
    """A forge home with user `bench` owning a public repository per source, each holding the
    source's objects and refs (as after a push of every ref) and its commit-graph."""
    from forge.accounts import users as accounts
    from forge.config import Settings
    from forge.db import Database
    from forge.git.commit_graph import write_commit_graph
    from forge.repos import repositories as repos

    home = root / "forge-home"
    settings = Settings.from_env({"FORGE_HOME": str(home)})
    settings.ensure_home(create=True)
    database = Database(settings.database_url)
    database.upgrade()
    with database.session() as session:
        user = accounts.create_user(session, "bench", "bench@example.org", "bench-password-1")
        for name in sources:
            repos.create_repository(session, settings.repos_dir, user, name)
    database.dispose()
    for name, source in sources.items():
        target = settings.repos_dir / "bench" / f"{name}.git"
        shutil.rmtree(target)
        git("clone", "-q", "--bare", "--mirror", str(source), str(target))
        if len(list((target / "objects" / "pack").glob("*.pack"))) > 1:
            git("repack", "-q", "-a", "-d", cwd=target)  # one pack, as maintenance keeps it
        git("symbolic-ref", "HEAD", f"refs/heads/{REPOS[name].branch}", cwd=target)
        (target / "git-daemon-export-ok").touch()
        started = time.monotonic()
        write_commit_graph(target)
        print(f"{name}: commit-graph in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return home


def sources(args, root: Path) -> dict[str, Path]:
    found = {}
    for name in args.repos:
        if name == "git":
            found[name] = Path(args.git_git)
        else:
            found[name] = TESTDATA / f"{name}.bundle"
        if not found[name].exists():
            sys.exit(f"{found[name]} is missing (see the module's docstring)")
    return found


# --- the servers ------------------------------------------------------------------------------


def forge_pages(repo: RealRepo, commit: str) -> dict[str, str]:
    base, branch = f"/bench/{repo.name}", repo.branch
    old, new = repo.releases
    return {
        "home": base,
        "deep tree": f"{base}/tree/{branch}/{repo.tree}",
        "large blob": f"{base}/blob/{branch}/{repo.blob}",
        "log page 1": f"{base}/commits/{branch}",
        "log page 200": f"{base}/commits/{branch}?page=200",  # 50 a page: commits 9,951-
        "path history": f"{base}/commits/{branch}/{repo.blob}",
        "blame": f"{base}/blame/{branch}/{repo.blob}",
        "commit": f"{base}/commit/{commit}",
        "compare": f"{base}/compare/{old}...{new}",
    }


def cgit_pages(repo: RealRepo, commit: str) -> dict[str, str]:
    base, branch = f"/{repo.name}", repo.branch
    old, new = repo.releases
    return {
        "home": f"{base}/",
        "deep tree": f"{base}/tree/{repo.tree}?h={branch}",
        "large blob": f"{base}/tree/{repo.blob}?h={branch}",
        "log page 1": f"{base}/log/?h={branch}",
        "log page 200": f"{base}/log/?h={branch}&ofs=9950",
        "path history": f"{base}/log/{repo.blob}?h={branch}",
        "blame": f"{base}/blame/{repo.blob}?h={branch}",
        "commit": f"{base}/commit/?id={commit}",
        "compare": f"{base}/diff/?id={new}&id2={old}",
    }


def gitweb_pages(repo: RealRepo, commit: str) -> dict[str, str]:
    base, branch = f"/?p={repo.name}.git", repo.branch
    old, new = repo.releases
    return {
        "home": f"{base};a=summary",
        "deep tree": f"{base};a=tree;f={repo.tree};hb={branch}",
        "large blob": f"{base};a=blob;f={repo.blob};hb={branch}",
        "log page 1": f"{base};a=shortlog;h={branch}",
        "log page 200": f"{base};a=shortlog;h={branch};pg=99",  # 100 a page: commits 9,901-
        "path history": f"{base};a=history;f={repo.blob};hb={branch}",
        "blame": f"{base};a=blame;f={repo.blob};hb={branch}",
        "commit": f"{base};a=commit;h={commit}",
        "compare": f"{base};a=commitdiff;h={new};hp={old}",
    }


CGI_BRIDGE = '''"""A WSGI app running a CGI program per request, as a web server's CGI module."""
import os, subprocess

PROGRAM = {program!r}
EXTRA = {extra!r}


def application(environ, start_response):
    env = {{k: v for k, v in environ.items() if isinstance(v, str)}}
    env.update(EXTRA)
    env.update(GATEWAY_INTERFACE="CGI/1.1", SCRIPT_NAME="", SCRIPT_FILENAME=PROGRAM,
               SERVER_SOFTWARE="bridge", REDIRECT_STATUS="200")
    out = subprocess.run([PROGRAM], env=env, input=b"", capture_output=True).stdout
    crlf = b"\\r\\n\\r\\n" in out[:4096]
    head, _, body = out.partition(b"\\r\\n\\r\\n" if crlf else b"\\n\\n")
    status, headers = "200 OK", []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name:
            headers.append((name.strip(), value.strip()))
    start_response(status, headers)
    return [body]
'''


def start_cgi(name: str, root: Path, program: Path, extra: dict, pages: dict) -> Server:
    site = root / name
    site.mkdir(exist_ok=True)
    (site / "bridge.py").write_text(CGI_BRIDGE.format(program=str(program), extra=extra))
    port = free_port()
    process = gunicorn("bridge:application", port, {**os.environ}, site)
    wait_until_up(port)
    return Server(name, "", port, process, pages)


def cgit_config(root: Path, repos_dir: Path, names: list[str]) -> Path:
    lines = ["cache-size=0", "virtual-root=/", "enable-blame=1", "enable-commit-graph=0",
             "max-commit-count=50", "enable-index-links=1"]  # fmt: skip
    for name in names:
        lines += [f"repo.url={name}", f"repo.path={repos_dir / 'bench' / (name + '.git')}"]
    path = root / "cgitrc"
    path.write_text("\n".join(lines) + "\n")
    return path


def gitweb_config(root: Path, repos_dir: Path) -> Path:
    path = root / "gitweb.conf"
    path.write_text(
        f'$projectroot = "{repos_dir / "bench"}";\n'
        "$feature{'blame'}{'default'} = [1];\n"
        "$feature{'pathinfo'}{'default'} = [0];\n"
    )
    return path


def start_forge(home: Path, pages: dict) -> Server:
    """forge under gunicorn, once a worker answers: gunicorn listens before its workers have
    started (imported forge, set it up), and a page asked then would wait for that too."""
    started = time.monotonic()
    process, port = serve_forge(home)
    Client(port).get("/healthz")  # whatever it answers: a worker is taking requests
    print(f"forge: answering {time.monotonic() - started:.1f} s after its start", file=sys.stderr)
    return Server("forge", "", port, process, pages)


# --- measuring --------------------------------------------------------------------------------


def timed(client: Client, path: str) -> float:
    seconds, status, _size = client.get(path)
    if status != 200:
        raise RuntimeError(f"{path}: HTTP {status}")
    return seconds


def measure(server: Server, repo: str, page: str, requests: int, cap: float) -> dict:
    client = Client(server.port)
    path = server.pages[repo][page]
    first = timed(client, path)
    times, started = [], time.monotonic()
    for _ in range(WORKERS):  # each worker's first request of the page is not a warm one
        timed(Client(server.port), path)
    while len(times) < 3 or (len(times) < requests and time.monotonic() - started < cap):
        times.append(timed(client, path))
    return {"first": first, "p50": percentile(times, 0.5), "p95": percentile(times, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser(description="forge vs cgit and gitweb on real histories")
    parser.add_argument("--git-git", default=str(MIRROR), help="a bare clone of git.git")
    parser.add_argument("--repos", default="git,flask,dulwich", type=lambda s: s.split(","))
    parser.add_argument("--requests", type=int, default=9, help="warm requests per page")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds of warm requests a page")
    parser.add_argument("--skip", nargs="*", default=[], help="pages (repo:page) left out")
    parser.add_argument("--json", help="also write the results there")
    args = parser.parse_args()
    for program in (CGIT, GITWEB):
        if not program.exists():
            sys.exit(f"{program} is missing: apt-get install cgit gitweb")

    root = Path(tempfile.mkdtemp(prefix="forge-real-"))
    servers: list[Server] = []
    try:
        home = prepare_home(root, sources(args, root))
        repos_dir = home / "repos"
        heads = {
            name: git(
                "rev-parse", REPOS[name].branch, cwd=repos_dir / "bench" / f"{name}.git"
            ).strip()
            for name in args.repos
        }

        def pages_of(make) -> dict:
            return {name: make(REPOS[name], heads[name]) for name in args.repos}

        cgitrc = cgit_config(root, repos_dir, args.repos)
        gitweb_conf = gitweb_config(root, repos_dir)
        forge = start_forge(home, pages_of(forge_pages))
        cgit = start_cgi("cgit", root, CGIT, {"CGIT_CONFIG": str(cgitrc)}, pages_of(cgit_pages))
        gitweb = start_cgi(
            "gitweb", root, GITWEB, {"GITWEB_CONFIG": str(gitweb_conf)}, pages_of(gitweb_pages)
        )
        servers = [forge, cgit, gitweb]
        results: dict = {}
        for repo in args.repos:
            for page in PAGES:
                if f"{repo}:{page}" in args.skip:
                    continue
                row = results.setdefault(f"{repo}: {page}", {})
                for server in servers:
                    try:
                        row[server.name] = measure(server, repo, page, args.requests, args.cap)
                    except (RuntimeError, OSError) as exc:  # a timeout, an error page
                        row[server.name] = {"error": str(exc)}
                print(json.dumps({f"{repo}: {page}": row}), file=sys.stderr, flush=True)
        # A restart: forge's memory is gone, its page cache on disk stays.
        forge.stop()
        forge = start_forge(home, forge.pages)
        servers[0] = forge
        for key, row in results.items():
            repo, page = key.split(": ", 1)
            if "error" not in row["forge"]:
                row["forge"]["restart"] = timed(Client(forge.port), forge.pages[repo][page])
        print_table(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def print_table(results: dict) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}"

    print(
        "\n| page | forge first ms | forge restart ms | forge p50 | forge p95 | cgit p50 | "
        "cgit p95 | gitweb p50 | restart / cgit | p95 / cgit p95 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, row in results.items():
        forge, cgit, gitweb = row["forge"], row["cgit"], row["gitweb"]
        if any("error" in r for r in (forge, cgit, gitweb)):
            errors = {name: r["error"] for name, r in row.items() if "error" in r}
            print(f"| {key} | {errors} |")
            continue
        print(
            f"| {key} | {ms(forge['first'])} | {ms(forge['restart'])} | {ms(forge['p50'])} | "
            f"{ms(forge['p95'])} | {ms(cgit['p50'])} | {ms(cgit['p95'])} | "
            f"{ms(gitweb['p50'])} | {forge['restart'] / cgit['p50']:.2f} | "
            f"{forge['p95'] / cgit['p95']:.2f} |"
        )


if __name__ == "__main__":
    main()
