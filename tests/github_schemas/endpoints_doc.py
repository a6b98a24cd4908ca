"""Write docs/api.md: which of GitHub's REST operations forge serves, which it does not, and
forge's own endpoints beside them.

Run by hand after adding an endpoint or updating the vendored description:

    python tests/github_schemas/endpoints_doc.py

It reads GitHub's operations from the vendored description (openapi/api.github.com.forge.json,
its `index`) and forge's from forge's own OpenAPI description (forge/api/openapi/*.yaml, which
tests/test_openapi.py holds to the routes forge serves), and matches them by path with the
parameters' names set aside. tests/test_github_conformance.py fails while the committed
docs/api.md differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for support.github_schema when run as a script
from support.github_schema import path_shape  # noqa: E402

DESCRIPTION = HERE / "openapi" / "api.github.com.forge.json"
OUTPUT = HERE.parent.parent / "docs" / "api.md"
METHODS = ("get", "put", "post", "patch", "delete")

INTRO = """\
# The REST API: what forge serves of GitHub's, and what it does not

<!-- Written by tests/github_schemas/endpoints_doc.py; run it again rather than editing. -->

forge answers under `/api/v3` in GitHub's REST shapes, so GitHub's clients (PyGithub,
github3.py, Octokit, `gh api`) work when pointed at it; `GET /api/v3/openapi.json` is forge's
own OpenAPI description of every endpoint. This page compares forge's endpoints with GitHub's
published description (npm `@octokit/openapi` {version}, api.github.com): {served} of GitHub's
{total} operations are served, each answering with a body that validates against GitHub's own
schema for it (tests/test_github_conformance.py checks every one); forge adds {own} of its own.

A field forge cannot fill takes the empty value GitHub's schema allows (`null`, `0`, `[]`,
`""` for `ssh_url`): forge has no issues, labels, milestones, wikis, licences or SSH, so what
counts or links them is empty. The `*_url` fields of users and repositories are
GitHub's URLs; those pointing at operations listed as not served below answer 404.

## The GitHub CLI

`gh api PATH` works against forge: `GH_HOST=HOST[:PORT] GH_ENTERPRISE_TOKEN=TOKEN gh api
repos/OWNER/REPO`. gh speaks only HTTPS to a host other than github.com (it calls
`https://HOST[:PORT]/api/v3/...`), so forge must be behind TLS, and its `--hostname` flag takes
no port where `GH_HOST` does. It is a plain REST call (tests/test_github_clients.py runs it).
Most other `gh` commands (`gh pr list`, `gh pr view`, `gh pr create`, `gh repo view`,
`gh issue ...`, `gh pr checks`, `gh pr merge`)
ask GitHub's GraphQL API at `/api/graphql`, which forge does not have: they stop with
forge's 404 saying so. Use `gh api` with the REST paths below instead (for example `gh api
repos/OWNER/REPO/pulls -f head=BRANCH -f base=main -f title=...` for `gh pr create`).
"""


def forge_operations(folder: Path | None = None) -> list[tuple[str, str, str, str]]:
    """(METHOD, path, operationId, summary) of every operation forge's description lists
    (the one in `folder`, by default forge's own)."""
    from forge.api.openapi import FOLDER, load

    document = load(folder or FOLDER)
    return [
        (method.upper(), path, item[method]["operationId"], item[method].get("summary", ""))
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(github: dict, forge_ops: list[tuple[str, str, str, str]]) -> str:
    columns = github["index_columns"]
    index = [dict(zip(columns, row, strict=True)) for row in github["index"]]
    forge_by_shape = {(method, path_shape(path)): path for method, path, _, _ in forge_ops}
    github_shapes = {(row["method"], path_shape(row["path"])) for row in index}
    by_category: dict[str, list[dict]] = defaultdict(list)
    for row in index:
        row["forge"] = forge_by_shape.get((row["method"], path_shape(row["path"])))
        by_category[row["category"] or "other"].append(row)
    served = sum(1 for row in index if row["forge"])
    own = [op for op in forge_ops if (op[0], path_shape(op[1])) not in github_shapes]

    lines = [
        INTRO.format(
            version=github["version"], served=served, total=len(index), own=len(own)
        ).rstrip(),
        "",
        "## GitHub's operations, by GitHub's category",
        "",
        "Categories forge serves something of list every operation; the others are counted.",
    ]
    untouched = []
    for category in sorted(by_category):
        rows = by_category[category]
        count = sum(1 for row in rows if row["forge"])
        if not count:
            untouched.append(f"{category} ({len(rows)})")
            continue
        lines += ["", f"### {category}: {count} of {len(rows)} served", ""]
        lines += ["| served | method | path | GitHub's operation |", "|---|---|---|---|"]
        for row in sorted(rows, key=lambda r: (not r["forge"], r["path"], r["method"])):
            mark = "yes" if row["forge"] else "no"
            lines.append(
                f"| {mark} | {row['method']} | `{row['path']}` | "
                f"{_cell(row['summary'])} (`{row['operationId']}`) |"
            )
    lines += [
        "",
        "### Categories forge serves none of",
        "",
        ", ".join(untouched) + ".",
        "",
        "## forge's own endpoints",
        "",
        "Endpoints GitHub's api.github.com description does not have: forge's peer review (votes,",
        "the quality gate, the review queue, trust, reputation, the merge queue), its object",
        "checks, GitHub Enterprise Server's system hooks (`/admin/hooks`), the legacy `GET",
        "/git/refs` listing, and this API's own description.",
        "",
        "| method | path | what it does |",
        "|---|---|---|",
    ]
    for method, path, operation_id, summary in sorted(own, key=lambda op: (op[1], op[0])):
        lines.append(f"| {method} | `{path}` | {_cell(summary) or operation_id} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    github = json.loads(DESCRIPTION.read_text())
    OUTPUT.write_text(render(github, forge_operations()))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
