"""Cut GitHub's REST description down to what forge's conformance tests need.

Run by hand when updating the vendored description (see openapi/README.md):

    python tests/github_schemas/extract.py /tmp/package/generated/api.github.com.json

It reads the full api.github.com description of npm `@octokit/openapi` (about 13 MB) and writes
openapi/api.github.com.forge.json, a few hundred KB holding:

- `operations`: for each GitHub operation forge serves (matched against forge's own description
  in forge/api/openapi) or is expected to serve soon (`WANTED`, the calls issue 18 lists), its
  JSON response schemas by status code, with shared responses inlined;
- `components.schemas`: every schema those responses reference, directly or not;
- `index`: every operation of api.github.com (method, path, id, category, summary), without
  schemas, so docs/api.md can list what forge does not serve.

The schemas are rewritten from OpenAPI 3.0 to JSON Schema 2020-12 on the way (`nullable: true`
becomes a `null` alternative) and lose their prose (descriptions, examples), which the
validator ignores and which makes up most of the description's size.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "openapi" / "api.github.com.forge.json"
METHODS = ("get", "put", "post", "patch", "delete")

# Operations forge does not serve yet but is meant to (issue 18): their schemas are vendored
# now so that a test can be written before the endpoint. Every method of each path is taken.
WANTED = (
    "/repos/{owner}/{repo}/commits",
    "/repos/{owner}/{repo}/compare/{basehead}",
    "/repos/{owner}/{repo}/readme",
    "/repos/{owner}/{repo}/readme/{dir}",
    "/repos/{owner}/{repo}/contents/{path}",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/events",
    "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
    "/repos/{owner}/{repo}/commits/{ref}/statuses",
    "/repos/{owner}/{repo}/hooks/{hook_id}/tests",
    "/repos/{owner}/{repo}/hooks/{hook_id}/config",
    "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks",
    "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks/contexts",
    "/repos/{owner}/{repo}/git/matching-refs/{ref}",
    "/repos/{owner}/{repo}/git/commits",
    "/repos/{owner}/{repo}/git/commits/{commit_sha}",
    "/repos/{owner}/{repo}/git/trees",
    "/repos/{owner}/{repo}/git/trees/{tree_sha}",
    "/repos/{owner}/{repo}/git/blobs",
    "/repos/{owner}/{repo}/git/blobs/{file_sha}",
    "/repos/{owner}/{repo}/git/tags",
    "/repos/{owner}/{repo}/git/tags/{tag_sha}",
    "/user/emails",
    "/user/public_emails",
    "/repos/{owner}/{repo}/languages",
    "/repos/{owner}/{repo}/contributors",
    "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
    "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch",
    "/users/{username}/orgs",
    "/user/orgs",
    # Uploads go to the release's upload_url (/api/uploads/...), outside forge's description.
    "/repos/{owner}/{repo}/releases/{release_id}/assets",
)

# forge paths GitHub spells differently (GitHub has no root form of contents).
ALIASES = {
    "/repos/{owner}/{repo}/contents": "/repos/{owner}/{repo}/contents/{path}",
    "/repos/{owner}/{repo}/contents/": "/repos/{owner}/{repo}/contents/{path}",
}

# Keywords that only annotate a schema: dropped, the validator ignores them.
ANNOTATIONS = {"description", "example", "examples", "title", "externalDocs", "deprecated"}
# Keywords whose value is a map from a name to a schema (the names must be kept as they are).
SCHEMA_MAPS = {"properties", "patternProperties"}
# Keywords whose value is data, not a schema.
DATA = {"enum", "const", "default", "required"}


def shape(path: str) -> str:
    """A path with its parameters blanked: /x/{pull_number} and /x/{number} compare equal."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def to_json_schema(schema):
    """An OpenAPI 3.0 schema as JSON Schema 2020-12, without its prose."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {}
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-") or key == "nullable":
            continue
        if key in SCHEMA_MAPS:
            result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in DATA:
            result[key] = value
        else:
            result[key] = to_json_schema(value)
    if schema.get("nullable"):
        result = _nullable(result)
    return result


def _nullable(schema: dict) -> dict:
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if "oneOf" in schema:
        schema["oneOf"] = [*schema["oneOf"], {"type": "null"}]
        return schema
    if "anyOf" in schema or "allOf" in schema or "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema  # no type at all: null is already allowed


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in parts:
            node = node[part]
    return node


def response_schemas(document: dict, operation: dict) -> dict:
    """{status: JSON schema of the body, or None when the answer has no JSON body}."""
    answers = {}
    for status, response in operation.get("responses", {}).items():
        response = _resolve(document, response)
        content = response.get("content") or {}
        media = content.get("application/json") or next(
            (value for key, value in content.items() if key.endswith("json")), None
        )
        answers[status] = to_json_schema(media["schema"]) if media and "schema" in media else None
    return answers


def referenced(node, found: set[str], schemas: dict) -> None:
    """Collect the names of components/schemas `node` references, transitively."""
    if isinstance(node, list):
        for item in node:
            referenced(item, found, schemas)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                referenced(schemas[name], found, schemas)
        for value in node.values():
            referenced(value, found, schemas)


def forge_paths() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in forge's own description."""
    from forge.api.openapi import FOLDER, load

    document = load(FOLDER)
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


def extract(github: dict, served: set[tuple[str, str]]) -> dict:
    by_shape = {shape(path): path for path in github["paths"]}
    chosen: set[tuple[str, str]] = set()
    for method, path in served:
        github_path = by_shape.get(shape(ALIASES.get(path, path)))
        if github_path and method.lower() in github["paths"][github_path]:
            chosen.add((method, github_path))
    for path in WANTED:
        for method in METHODS:
            if method in github["paths"][path]:
                chosen.add((method.upper(), path))

    operations: dict[str, dict] = {}
    for method, path in sorted(chosen, key=lambda key: (key[1], key[0])):
        operation = github["paths"][path][method.lower()]
        operations[f"{method} {path}"] = {
            "operationId": operation["operationId"],
            "responses": response_schemas(github, operation),
        }
    schemas = github["components"]["schemas"]
    names: set[str] = set()
    referenced(operations, names, schemas)
    index = [
        [
            method.upper(),
            path,
            item[method]["operationId"],
            item[method].get("x-github", {}).get("category", ""),
            item[method].get("x-github", {}).get("subcategory", ""),
            item[method].get("summary", ""),
        ]
        for path, item in sorted(github["paths"].items())
        for method in METHODS
        if method in item
    ]
    return {
        "source": "npm @octokit/openapi, generated/api.github.com.json",
        "version": github["info"]["version"],
        "operations": operations,
        "components": {"schemas": {name: to_json_schema(schemas[name]) for name in sorted(names)}},
        "index_columns": ["method", "path", "operationId", "category", "subcategory", "summary"],
        "index": index,
    }


def dump(compact: dict) -> str:
    """JSON with one operation, schema or index row a line: small, and a diff shows which
    ones an update changed."""

    def one(value) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def mapping(entries: dict) -> str:
        rows = ",\n".join(f"  {one(name)}:{one(value)}" for name, value in entries.items())
        return "{\n" + rows + "\n }"

    lines = [
        "{",
        f' "source":{one(compact["source"])},',
        f' "version":{one(compact["version"])},',
        f' "operations":{mapping(compact["operations"])},',
        f' "components":{{"schemas":{mapping(compact["components"]["schemas"])}}},',
        f' "index_columns":{one(compact["index_columns"])},',
        ' "index":[\n' + ",\n".join("  " + one(row) for row in compact["index"]) + "\n ]",
        "}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("description", type=Path, help="the full api.github.com.json")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    github = json.loads(args.description.read_text())
    if "paths" not in github or "components" not in github:
        print(f"{args.description}: not an OpenAPI description", file=sys.stderr)
        return 2
    compact = extract(github, forge_paths())
    args.output.write_text(dump(compact))
    print(
        f"{args.output}: {len(compact['operations'])} operations, "
        f"{len(compact['components']['schemas'])} schemas, {args.output.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
