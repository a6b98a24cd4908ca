"""Reading `.forge/ci.yml`: which jobs a commit asks for, or what is wrong with the file.

    jobs:
      test:
        run: "pytest -q"          # a shell script (bash -e), required
        timeout: 600              # seconds, capped by FORGE_CI_MAX_TIMEOUT
        env: {PYTHONHASHSEED: 0}  # extra environment variables
        needs: [lint]             # jobs that must pass first
        network: false            # true asks for the network (the admin must allow it)
        limits: {memory_mb: 512, processes: 64, file_mb: 100, disk_mb: 500}  # under the caps

A malformed file raises `CiConfigError` naming the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from forge.config import CiLimits

CONFIG_PATH = ".forge/ci.yml"
DEFAULT_TIMEOUT = 600
JOB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
JOB_FIELDS = ("run", "timeout", "env", "needs", "network", "limits")
LIMIT_FIELDS = ("memory_mb", "processes", "file_mb", "disk_mb")


class CiConfigError(Exception):
    """The file cannot be used; the message says where (line) and what (field)."""


@dataclass
class JobSpec:
    name: str
    run: str
    timeout: int = DEFAULT_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    network: bool = False
    limits: dict[str, int] = field(default_factory=dict)

    def definition(self) -> dict:
        return {
            "timeout": self.timeout,
            "env": self.env,
            "needs": self.needs,
            "network": self.network,
            "limits": self.limits,
        }


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _fail(node: yaml.Node, path: str, message: str):
    raise CiConfigError(f"{CONFIG_PATH}, {_where(node)}: {path}: {message}")


def _scalar(node: yaml.Node):
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _mapping(node: yaml.Node, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        _fail(node, path, "must be a mapping (NAME: value)")
    pairs, seen = [], set()
    for key_node, value_node in node.value:
        key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            _fail(key_node, path, "keys must be names")
        if key in seen:
            _fail(key_node, f"{path}.{key}", "appears twice")
        seen.add(key)
        pairs.append((key, key_node, value_node))
    return pairs


def _int(node: yaml.Node, path: str, low: int = 1) -> int:
    value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(node, path, f"must be a whole number of at least {low}")
    return value


def parse(text: str | bytes, limits: CiLimits) -> list[JobSpec]:
    """The jobs of a `.forge/ci.yml`, in file order; raises CiConfigError when malformed."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark else "somewhere"
        raise CiConfigError(f"{CONFIG_PATH}, {line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise CiConfigError(f"{CONFIG_PATH}: not valid YAML: {exc}") from None
    if root is None:
        raise CiConfigError(f"{CONFIG_PATH}, line 1: the file is empty; it needs `jobs:`")
    top = _mapping(root, "(top level)")
    jobs_node = None
    for key, key_node, value_node in top:
        if key != "jobs":
            _fail(key_node, key, "unknown field; the file holds `jobs:`")
        jobs_node = value_node
    if jobs_node is None:
        _fail(root, "jobs", "is missing")
    specs: list[JobSpec] = []
    name_nodes = {}
    for name, name_node, job_node in _mapping(jobs_node, "jobs"):
        if not JOB_NAME.fullmatch(name):
            _fail(name_node, f"jobs.{name}", "a job name is letters, digits, '_', '.', '-'")
        specs.append(_job(name, job_node, limits))
        name_nodes[name] = job_node
    if not specs:
        _fail(jobs_node, "jobs", "names no job")
    names = {spec.name for spec in specs}
    for spec in specs:
        for need in spec.needs:
            if need not in names or need == spec.name:
                _fail(name_nodes[spec.name], f"jobs.{spec.name}.needs", f"no other job {need!r}")
    _check_cycles(specs, name_nodes)
    return specs


def _job(name: str, node: yaml.Node, limits: CiLimits) -> JobSpec:
    path = f"jobs.{name}"
    spec = JobSpec(name=name, run="")
    has_run = False
    for key, key_node, value in _mapping(node, path):
        where = f"{path}.{key}"
        if key == "run":
            script = _scalar(value) if isinstance(value, yaml.ScalarNode) else None
            if not isinstance(script, str) or not script.strip():
                _fail(value, where, "must be a shell script (a string)")
            spec.run, has_run = script, True
        elif key == "timeout":
            spec.timeout = min(_int(value, where), limits.max_timeout)
        elif key == "env":
            for env_name, env_key, env_value in _mapping(value, where):
                if not ENV_NAME.fullmatch(env_name):
                    _fail(env_key, f"{where}.{env_name}", "is not a variable name")
                item = _scalar(env_value) if isinstance(env_value, yaml.ScalarNode) else None
                if item is None or isinstance(item, list | dict):
                    _fail(env_value, f"{where}.{env_name}", "must be a string or number")
                spec.env[env_name] = str(item).lower() if isinstance(item, bool) else str(item)
        elif key == "needs":
            if isinstance(value, yaml.ScalarNode):
                value = yaml.SequenceNode("tag:yaml.org,2002:seq", [value], value.start_mark)
            if not isinstance(value, yaml.SequenceNode):
                _fail(value, where, "must be a list of job names")
            for item in value.value:
                need = _scalar(item) if isinstance(item, yaml.ScalarNode) else None
                if not isinstance(need, str):
                    _fail(item, where, "must be a list of job names")
                spec.needs.append(need)
        elif key == "network":
            flag = _scalar(value) if isinstance(value, yaml.ScalarNode) else None
            if not isinstance(flag, bool):
                _fail(value, where, "must be true or false")
            spec.network = flag
        elif key == "limits":
            caps = {
                "memory_mb": limits.memory_mb,
                "processes": limits.processes,
                "file_mb": limits.file_mb,
                "disk_mb": limits.disk_mb,
            }
            for limit, limit_key, limit_value in _mapping(value, where):
                if limit not in LIMIT_FIELDS:
                    _fail(limit_key, f"{where}.{limit}", f"unknown; use {', '.join(LIMIT_FIELDS)}")
                spec.limits[limit] = min(_int(limit_value, f"{where}.{limit}"), caps[limit])
        else:
            _fail(key_node, where, f"unknown field; a job has {', '.join(JOB_FIELDS)}")
    if not has_run:
        _fail(node, f"{path}.run", "is missing: say what the job runs")
    return spec


def _check_cycles(specs: list[JobSpec], nodes: dict[str, yaml.Node]) -> None:
    needs = {spec.name: spec.needs for spec in specs}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            loop = " -> ".join((*trail[trail.index(name) :], name))
            _fail(nodes[name], f"jobs.{name}.needs", f"the jobs need each other: {loop}")
        if name in done:
            return
        for need in needs[name]:
            visit(need, (*trail, name))
        done.add(name)

    for spec in specs:
        visit(spec.name, ())
