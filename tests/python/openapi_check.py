"""Strict response (and request) validation against Intercom's official OpenAPI descriptions.

Built on ``openapi-schema-validator`` (OAS 3.0 dialect: ``nullable``, ``readOnly``, ...) plus our own
method/path/status lookup and ``$ref`` resolution, so that no more than the spec is assumed:

* the operation is found by method and path template (a literal segment wins over a ``{param}``,
  so ``GET /companies/scroll`` is not taken for ``GET /companies/{company_id}``);
* the status code must be one the operation documents (``default`` / ``4XX`` ranges count);
* a documented JSON body is validated against its schema, ``$ref``s resolved inside the same file;
* a documented body-less response (``POST /events`` 202) must have an empty body.

Exceptions are never decided here: the caller passes the spec's known gaps (see
``test_conformance.KNOWN_SPEC_GAPS``) as JSON-pointer patches and as ``(method, template, status)``
allowances, each with its reason.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def spec_root() -> Path:
    """`shared/intercom-openapi` beside the repository (CI clones the repo elsewhere with `shared/`
    beside it), falling back to the workplace copy."""
    beside = Path(__file__).resolve().parents[3] / "shared" / "intercom-openapi"
    if (beside / "2.14" / "api.intercom.io.yaml").is_file():
        return beside
    return Path("/work/shared/intercom-openapi")


def load_yaml(path: Path) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as fh:
        return yaml.load(fh, Loader=loader)


def _pointer_parts(pointer: str) -> list[str]:
    assert pointer.startswith("/"), pointer
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def resolve_pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for part in _pointer_parts(pointer):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def set_pointer(doc: Any, pointer: str, value: Any) -> None:
    parts = _pointer_parts(pointer)
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    if parts[-1] not in parent:
        raise KeyError(f"spec patch target {pointer} does not exist (has the spec changed?)")
    parent[parts[-1]] = value


@dataclass(frozen=True)
class SchemaPatch:
    """Replace the node at `pointer` (a JSON pointer into the spec) with `value`."""

    pointer: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    op: dict

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.template}"

    @property
    def operation_id(self) -> str:
        return self.op.get("operationId", "?")


@dataclass
class Finding:
    """One violation: what was called and what was wrong."""

    call: str
    problem: str

    def __str__(self) -> str:
        return f"{self.call}: {self.problem}"


class OpenAPISpec:
    def __init__(self, path: Path, patches: Iterable[SchemaPatch] = ()):
        self.path = path
        raw = load_yaml(path)
        self.doc = copy.deepcopy(raw)
        for patch in patches:
            set_pointer(self.doc, patch.pointer, copy.deepcopy(patch.value))
        self.version = str(self.doc["info"]["version"])
        self._ops: list[tuple[re.Pattern, int, Operation]] = []
        for template, item in self.doc["paths"].items():
            params = template.count("{")
            regex = re.compile(
                "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            )
            for method, op in item.items():
                if method in HTTP_METHODS:
                    self._ops.append((regex, params, Operation(method, template, op)))
        # Fewer template parameters first: a literal segment beats a `{param}`.
        self._ops.sort(key=lambda t: t[1])

    # ---- lookup -------------------------------------------------------------------------------
    def find_operation(self, method: str, path: str) -> Operation | None:
        method = method.lower()
        path = path.split("?", 1)[0]
        for regex, _, op in self._ops:
            if op.method == method and regex.match(path):
                return op
        return None

    def operation_by_key(self, key: str) -> Operation:
        method, template = key.split(" ", 1)
        for _, _, op in self._ops:
            if op.method == method.lower() and op.template == template:
                return op
        raise KeyError(key)

    def response_for(self, op: Operation, status: int) -> dict | None:
        responses = op.op.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if key in responses:
                return self.deref(responses[key])
        return None

    def deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
            node = resolve_pointer(self.doc, node["$ref"][1:])
        return node

    def schema(self, name: str) -> dict:
        return {"$ref": f"#/components/schemas/{name}"}

    # ---- validation ---------------------------------------------------------------------------
    def _validator(self, schema: dict, cls) -> Any:
        # `$ref`s are "#/components/..." pointers; rooting the schema beside the components makes
        # them resolve inside the same document without a remote registry.
        root = dict(schema)
        root["components"] = self.doc["components"]
        return cls(root, format_checker=oas30_format_checker)

    def schema_errors(self, instance: Any, schema: dict, *, write: bool = False) -> list[str]:
        validator = self._validator(schema, OAS30WriteValidator if write else OAS30ReadValidator)
        out = []
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            detail = err.message
            if err.context:  # oneOf / anyOf: say why each branch failed
                detail += " [" + "; ".join(
                    f"{'/'.join(str(p) for p in c.absolute_path) or '(root)'}: {c.message}"
                    for c in err.context[:6]
                ) + "]"
            out.append(f"{where}: {detail[:600]}")
        return out

    def request_body_schema(self, op: Operation) -> dict | None:
        body = self.deref(op.op.get("requestBody"))
        if not body:
            return None
        content = body.get("content", {})
        media = content.get("application/json")
        return media.get("schema") if media else None


@dataclass
class GapRules:
    """The exceptions a test is allowed to make: each one names a gap of the spec itself."""

    # (METHOD, template or "*", status) -> reason. The body must still be a valid `error` envelope.
    undocumented_status: dict[tuple[str, str, int], str] = field(default_factory=dict)
    # (METHOD, template) -> (predicate(query, body) -> schema name or None, reason): validate a
    # documented status against a different schema when the spec's own schema is wrong for it.
    alternate_schema: dict[tuple[str, str], tuple[Callable[[dict, Any], str | None], str]] = field(
        default_factory=dict
    )

    def status_gap(self, method: str, template: str, status: int) -> str | None:
        for key in ((method, template, status), (method, "*", status), ("*", "*", status)):
            if key in self.undocumented_status:
                return self.undocumented_status[key]
        return None


def check_response(
    spec: OpenAPISpec,
    rules: GapRules,
    method: str,
    path: str,
    query: dict,
    status: int,
    headers: dict,
    body_text: str,
) -> tuple[Operation | None, list[str], list[str]]:
    """Validate one response. Returns (operation, problems, gaps_used)."""
    problems: list[str] = []
    gaps: list[str] = []
    op = spec.find_operation(method, path)
    if op is None:
        return None, [f"no operation in spec {spec.version} for {method.upper()} {path}"], gaps
    response = spec.response_for(op, status)
    schema: dict | None = None
    if response is None:
        reason = rules.status_gap(method.upper(), op.template, status)
        if reason is None:
            documented = sorted(op.op.get("responses", {}))
            problems.append(
                f"status {status} is not documented for {op.key} ({op.operation_id}) in {spec.version}; "
                f"documented: {documented}"
            )
            return op, problems, gaps
        gaps.append(f"{op.key} {status}: {reason}")
        schema = spec.schema("error")  # an undocumented error still uses the error envelope
        if status < 400:
            schema = None
    else:
        content = response.get("content") or {}
        if not content:
            if body_text.strip():
                problems.append(
                    f"{op.key} {status} documents no body, got {body_text[:200]!r}"
                )
            return op, problems, gaps
        media = content.get("application/json")
        if media is None:
            problems.append(f"{op.key} {status}: spec has no application/json content ({list(content)})")
            return op, problems, gaps
        schema = media.get("schema")
        alt = rules.alternate_schema.get((method.upper(), op.template))
        if alt is not None and 200 <= status < 300:
            name = alt[0](query, body_text)
            if name:
                schema = spec.schema(name)
                gaps.append(f"{op.key} {status} validated as {name}: {alt[1]}")
    if schema is None:
        return op, problems, gaps
    ctype = headers.get("content-type", "")
    if "application/json" not in ctype:
        problems.append(f"{op.key} {status}: Content-Type is {ctype!r}, expected application/json")
    try:
        body = json.loads(body_text)
    except ValueError as exc:
        problems.append(f"{op.key} {status}: body is not JSON ({exc}): {body_text[:200]!r}")
        return op, problems, gaps
    for err in spec.schema_errors(body, schema):
        problems.append(f"{op.key} {status} body vs {spec.version} schema: {err}")
    return op, problems, gaps
