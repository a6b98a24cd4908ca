"""The OpenAPI document at /api/v3/openapi.json stays true to the API forge serves.

Every route under /api/v3 is documented and every documented operation exists; the document
is valid OpenAPI 3.1; real answers of representative endpoints match their documented schemas
field for field; and schemathesis, run against a live forge with real data behind the paths,
finds no server error and no answer that breaks the document.
"""

from __future__ import annotations

import copy
import re
import shutil
import time
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forge.api.openapi import FOLDER, METHODS, DocumentError, load

PREFIX = "/api/v3"
CI_YML = "jobs:\n  test:\n    run: echo testing\n"
HOOK_TARGET = "http://127.0.0.1:9/hook"  # nothing listens there; no worker delivers in here


@pytest.fixture
def settings(settings):
    # The hook below points at loopback, which the SSRF guard refuses unless allowed.
    return replace(settings, webhook_allowed_hosts=("127.0.0.1",))


@pytest.fixture
def forge_data(git, hosted_repo, tmp_path, make_user, make_token, api):
    """alice owns alice/project: main with two files, a branch `feature`, pull request #1
    from it with a review, an inline comment, a status, and bob's comment in its conversation,
    a hook with one (undelivered) ping, and CI runs (queued: no worker runs them here).
    bob collaborates; root, a site admin, has a system hook."""
    repo = hosted_repo()
    files = {"README.md": "# project\n", "src/app.py": "print(1)\n", ".forge/ci.yml": CI_YML}
    work = git.init(tmp_path / "work", files)
    git.run("push", repo.push_url, "main", cwd=work)
    git.run("checkout", "-q", "-b", "feature", cwd=work)
    head = git.commit(work, {"src/app.py": "print(2)\n"}, "Print two")
    git.run("push", repo.push_url, "feature", cwd=work)
    make_user("bob")
    token = repo.token

    def call(method, path, body=None, status=201):
        response = api(method, "/repos/alice/project" + path, token, json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    call("PUT", "/collaborators/bob", {"permission": "push"})
    pull = call("POST", "/pulls", {"head": "feature", "base": "main", "title": "Two"})
    review = call(
        "POST",
        "/pulls/1/reviews",
        {
            "event": "COMMENT",
            "body": "Looks fine",
            "comments": [{"path": "src/app.py", "line": 1, "body": "Why two?"}],
        },
        status=200,
    )
    inline = call("GET", "/pulls/1/comments", status=200)[0]
    bob_token = make_token("bob")
    talk = api("POST", "/repos/alice/project/issues/1/comments", bob_token, json={"body": "Ok"})
    assert talk.status_code == 201, talk.text
    call("POST", f"/statuses/{head}", {"state": "success", "context": "ci"})
    hook = call("POST", "/hooks", {"config": {"url": HOOK_TARGET}, "events": ["*"]})
    call("POST", f"/hooks/{hook['id']}/pings", status=204)
    delivery = call("GET", f"/hooks/{hook['id']}/deliveries", status=200)[0]
    make_user("root", admin=True)
    admin_token = make_token("root")
    system_hook = api("POST", "/admin/hooks", admin_token, json={"config": {"url": HOOK_TARGET}})
    assert system_hook.status_code == 201, system_hook.text
    run = call("GET", "/actions/runs?branch=feature", status=200)["workflow_runs"][0]
    job = call("GET", f"/actions/runs/{run['id']}/jobs", status=200)["jobs"][0]
    return SimpleNamespace(
        token=token,
        head=head,
        pull=pull,
        review=review,
        inline=inline,
        talk=talk.json(),
        hook=hook,
        delivery=delivery,
        run=run,
        job=job,
        admin_token=admin_token,
        system_hook=system_hook.json(),
    )


def fetch_document(live_server) -> dict:
    response = requests.get(f"{live_server}{PREFIX}/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


# --- the document covers the API, and only the API ------------------------------------------


def _shape(path: str) -> str:
    """A path with its parameters blanked, so /x/<int:number> and /x/{pull_number} compare."""
    return re.sub(r"\{[^}]*\}", "{}", re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", path))


def test_every_route_is_documented_and_every_documented_operation_exists(app, client):
    documented = {}
    for path, item in client.get(f"{PREFIX}/openapi.json").get_json()["paths"].items():
        for method in METHODS:
            if method in item:
                documented[(_shape(path), method.upper())] = path
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.rule != PREFIX and not rule.rule.startswith(PREFIX + "/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            served[(_shape(rule.rule[len(PREFIX) :]), method)] = (rule.rule, rule.endpoint)

    undocumented = [
        f"{method} {rule} (view {endpoint})"
        for (shape, method), (rule, endpoint) in sorted(served.items())
        if (shape, method) not in documented
    ]
    assert not undocumented, (
        "routes missing from the OpenAPI document; describe each in its area's file under "
        f"{FOLDER}:\n  " + "\n  ".join(undocumented)
    )
    phantoms = [
        f"{method} {path}"
        for (shape, method), path in sorted(documented.items())
        if (shape, method) not in served
    ]
    assert not phantoms, "documented operations that forge does not serve:\n  " + "\n  ".join(
        phantoms
    )


def test_the_document_is_valid_openapi_3_1_with_the_servers_url(client):
    body = client.get(f"{PREFIX}/openapi.json").get_json()
    assert body["openapi"].startswith("3.1")
    assert body["servers"] == [{"url": "http://localhost/api/v3"}]
    validate_openapi(body)
    # Every operation has a unique id, which client generators name their methods after.
    ids = [
        item[method]["operationId"]
        for item in body["paths"].values()
        for method in METHODS
        if method in item
    ]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


# --- real answers match their documented schemas, field for field ---------------------------


def _strict(node):
    """A copy where every object schema with properties allows no others: an answer's field
    the document does not name fails validation, so the document cannot fall behind."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Documented:
    """Checks real answers against the response schemas of one document."""

    def __init__(self, body: dict):
        self.body = body
        self.components = _strict(copy.deepcopy(body["components"]))

    def check(self, method: str, template: str, response: requests.Response) -> None:
        operation = self.body["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, which the document does not list"
        )
        documented = operation["responses"][status]
        if "$ref" in documented:
            documented = self.body["components"]["responses"][documented["$ref"].split("/")[-1]]
        for header in documented.get("headers", {}):
            if header not in ("Link",):
                assert header in response.headers, f"{method} {template}: no {header} header"
        if "content" not in documented:
            assert not response.content, f"{method} {template}: a body where none is documented"
            return
        schema = documented["content"]["application/json"]["schema"]
        root = {"components": self.components, "allOf": [_strict(schema)]}
        errors = list(
            Draft202012Validator(root, format_checker=FormatChecker()).iter_errors(response.json())
        )
        assert not errors, f"{method} {template} -> {status}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )


def test_real_answers_match_the_documented_schemas(forge_data, api, live_server):
    docs = Documented(fetch_document(live_server))
    token, hook, head = forge_data.token, forge_data.hook["id"], forge_data.head
    repo = "/repos/{owner}/{repo}"
    cases = [
        ("GET", "/user", "/user"),
        ("GET", "/users/{username}", "/users/bob"),
        ("GET", "/user/repos", "/user/repos"),
        ("GET", repo, "/repos/alice/project"),
        ("GET", repo + "/collaborators", "/repos/alice/project/collaborators"),
        (
            "GET",
            repo + "/collaborators/{username}/permission",
            "/repos/alice/project/collaborators/bob/permission",
        ),
        ("GET", repo + "/branches/{branch}", "/repos/alice/project/branches/main"),
        ("GET", repo + "/git/refs", "/repos/alice/project/git/refs"),
        ("GET", repo + "/contents/{path}", "/repos/alice/project/contents/README.md"),
        ("GET", repo + "/contents/{path}", "/repos/alice/project/contents/src"),
        ("GET", repo + "/commits/{sha}", f"/repos/alice/project/commits/{head}"),
        ("GET", repo + "/commits/{ref}/status", "/repos/alice/project/commits/feature/status"),
        ("GET", repo + "/pulls", "/repos/alice/project/pulls"),
        ("GET", repo + "/pulls/{pull_number}", "/repos/alice/project/pulls/1"),
        ("GET", repo + "/pulls/{pull_number}/files", "/repos/alice/project/pulls/1/files"),
        ("GET", repo + "/pulls/{pull_number}/reviews", "/repos/alice/project/pulls/1/reviews"),
        ("GET", repo + "/pulls/{pull_number}/comments", "/repos/alice/project/pulls/1/comments"),
        ("GET", repo + "/issues/{issue_number}/comments", "/repos/alice/project/issues/1/comments"),
        ("GET", repo + "/hooks", "/repos/alice/project/hooks"),
        (
            "GET",
            repo + "/hooks/{hook_id}/deliveries/{delivery_id}",
            f"/repos/alice/project/hooks/{hook}/deliveries/{forge_data.delivery['id']}",
        ),
        ("GET", "/rate_limit", "/rate_limit"),
        ("GET", repo + "/actions/runs", "/repos/alice/project/actions/runs"),
        (
            "GET",
            repo + "/actions/jobs/{job_id}",
            f"/repos/alice/project/actions/jobs/{forge_data.job['id']}",
        ),
        ("GET", "/users/{username}/reputation", "/users/alice/reputation"),
        ("GET", repo + "/pulls/{pull_number}/votes", "/repos/alice/project/pulls/1/votes"),
        ("GET", repo + "/quality-gate", "/repos/alice/project/quality-gate"),
        # Errors are answers too: the shapes of 404, 422 and 401.
        ("GET", repo, "/repos/alice/nothing-here"),
        ("GET", repo + "/pulls", "/repos/alice/project/pulls?per_page=many"),
    ]
    for method, template, path in cases:
        docs.check(method, template, api(method, path, token))
    docs.check("GET", "/user", api("GET", "/user", "not-a-token"))
    notified = api("GET", "/notifications", token)
    assert notified.json(), "alice hears of bob's comment on her pull request"
    docs.check("GET", "/notifications", notified)
    created = api("POST", "/user/repos", token, json={"name": "second", "private": True})
    docs.check("POST", "/user/repos", created)
    refused = api("POST", "/user/repos", token, json={"name": "second"})
    docs.check("POST", "/user/repos", refused)
    assert refused.status_code == 422


# --- schemathesis against a live forge ------------------------------------------------------

# Each operation gets this many generated requests: enough to reach the code behind each
# endpoint with varied input, few enough that the whole run stays well under two minutes.
EXAMPLES_PER_OPERATION = 10
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def _fixed_path_parameters(path: str, data: SimpleNamespace) -> dict:
    """Real values for the path's parameters, so generated requests reach real rows instead
    of 404s; the query, headers and bodies are left to schemathesis."""
    values = {
        "owner": "alice",
        "repo": "project",
        "username": "bob",
        "pull_number": data.pull["number"],
        "issue_number": data.pull["number"],
        "review_id": data.review["id"],
        "hook_id": data.hook["id"],
        "delivery_id": data.delivery["id"],
        "run_id": data.run["id"],
        "job_id": data.job["id"],
        "branch": "main",
        "path": "src/app.py",
        "sha": data.head,
        "ref": "feature",
        "comment_id": data.talk["id"] if "/issues/" in path else data.inline["id"],
    }
    if "/git/ref" in path:
        values["ref"] = "heads/feature"
    if path.startswith("/admin/hooks"):
        values["hook_id"] = data.system_hook["id"]
    return {name: values[name] for name in re.findall(r"\{([^}]+)\}", path) if name in values}


def _order(operation) -> tuple:
    # Reads first, then writes; renaming and deleting the repository come last, since every
    # path after them would only find it gone.
    root = operation.path == "/repos/{owner}/{repo}"
    return (METHOD_ORDER[operation.method.upper()], root, operation.path)


def _fuzz(strategy, base_url, session, headers, checks, statuses):
    """A Hypothesis test sending one operation's generated requests and checking answers."""

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        answered = case.call_and_validate(
            base_url=base_url, session=session, headers=headers, checks=checks, timeout=30
        )
        statuses[answered.status_code] += 1

    return call


def test_schemathesis_finds_no_server_errors_and_no_answers_off_the_document(
    forge_data, live_server
):
    schema = schemathesis.openapi.from_url(f"{live_server}{PREFIX}/openapi.json")
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    owner = {"Authorization": f"token {forge_data.token}"}
    site_admin = {"Authorization": f"token {forge_data.admin_token}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures = []
    statuses = Counter()
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            strategy = operation.as_strategy(
                path_parameters=_fixed_path_parameters(operation.path, forge_data)
            )
            headers = site_admin if operation.path.startswith("/admin/") else owner
            call = _fuzz(strategy, live_server + PREFIX, session, headers, checks, statuses)
            try:
                call()
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                failures.append(f"{operation.method.upper()} {operation.path}:\n{exc}")
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
    print(
        f"schemathesis: {len(operations)} operations in {time.monotonic() - started:.1f}s, "
        f"answers by status: {dict(sorted(statuses.items()))}"
    )


# --- adding to the document -----------------------------------------------------------------


def test_an_area_file_adds_endpoints_and_a_clash_names_the_file(tmp_path):
    """How a developer documents new endpoints: a YAML file beside the others. Two files
    defining one operation refuse to load, naming the second."""
    shutil.copy(FOLDER / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "widgets.yaml").write_text(
        "paths:\n"
        "  /repos/{owner}/{repo}/widgets:\n"
        "    parameters:\n"
        '      - $ref: "#/components/parameters/owner"\n'
        '      - $ref: "#/components/parameters/repo"\n'
        "    get:\n"
        "      operationId: listWidgets\n"
        "      parameters:\n"
        '        - $ref: "#/components/parameters/per_page"\n'
        "      responses:\n"
        '        "200": {description: The widgets.}\n'
    )
    merged = load(tmp_path)
    validate_openapi(merged)
    operation = merged["paths"]["/repos/{owner}/{repo}/widgets"]["get"]
    assert operation["tags"] == ["widgets"]
    # What every operation shares came with it: errors, 304, and the headers of a list.
    assert set(operation["responses"]) == {"200", "304", "401", "403", "404", "422"}
    assert {"ETag", "Link", "X-RateLimit-Remaining"} <= set(
        operation["responses"]["200"]["headers"]
    )

    (tmp_path / "xwidgets.yaml").write_text(
        "paths:\n  /repos/{owner}/{repo}/widgets:\n    get:\n      responses: {}\n"
    )
    with pytest.raises(DocumentError, match=r"xwidgets\.yaml: /repos/\{owner\}/\{repo\}/widgets"):
        load(tmp_path)
