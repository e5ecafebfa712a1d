"""docs/openapi.yaml against the routes the Swift sources register.

Needs no server and no environment variables (unlike the other tests in this folder):
it reads the Swift sources with regular expressions, so it runs in a second.

* every route registered (method and path) is described in docs/openapi.yaml, and every
  operation described there is registered (no stale entries);
* path parameter names, and the service named in each operation's `x-mesh-service`,
  match the code; the DevGateway (`meshctl dev`) sends each path to that service;
* mesh-agent's local agent API is tagged `local-agent` (and nothing else is);
* query parameters the handlers read by name are described.

Hummingbird path parameters `:name` (and `{name}`) map to OpenAPI `{name}`; the wildcards
`*` (one segment) and `**` (the rest of the path) map to `{wildcard}` and `{catchall}`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"

# The files whose routes make up the REST API, and the process that serves them.
ROUTE_FILES = {
    "Services/Catalog/Sources/CatalogService+HTTP.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+ConfigEntries.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+Agent.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+KV.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+Sessions.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+Txn.swift": "catalog-svc",
    "Services/Catalog/Sources/CatalogHTTP+UI.swift": "catalog-svc",
    "Services/Authz/Sources/AuthzHTTP+ACL.swift": "authz-svc",
    "Services/Authz/Sources/AuthzHTTP+Intentions.swift": "authz-svc",
    "Services/Authz/Sources/AuthzHTTP+Authorize.swift": "authz-svc",
    "Services/IAMAuth/Sources/IAMAuthHTTP.swift": "iam-auth-svc",
    "Services/CA/Sources/CAHTTP.swift": "ca-svc",
    "Shared/MeshRPC/Observability.swift": "every",
    "Shared/MeshRPC/ConsulHTTP.swift": "every",
    "Shared/MeshAgentAPI/LocalAgentAPI.swift": "mesh-agent",
    "Shared/MeshAgentAPI/LocalAgentAPI+Health.swift": "mesh-agent",
    "Shared/MeshAgentAPI/LocalAgentAPI+Maintenance.swift": "mesh-agent",
    "Shared/MeshAgentAPI/LocalAgentAPI+Sessions.swift": "mesh-agent",
    "Shared/MeshAgentAPI/LocalAgentAPI+Tokens.swift": "mesh-agent",
}
# Files that register routes which are not part of the API described (the demo
# applications `meshctl dev --demo` starts: plain HTTP apps behind the mesh's proxies).
NOT_API_FILES = {"Services/CLI/Sources/DemoApps.swift"}
GATEWAY_FILE = "Services/CLI/Sources/DevGateway.swift"
GATEWAY_SERVICES = {"catalog": "catalog-svc", "authz": "authz-svc", "ca": "ca-svc", "iamAuth": "iam-auth-svc"}

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ROUTE_RE = re.compile(r"\b(\w+)\.(get|put|post|delete|patch|head)\(\s*\"((?:[^\"\\]|\\.)*)\"")
ON_RE = re.compile(r"\b(\w+)\.on\(\s*\"((?:[^\"\\]|\\.)*)\"\s*,\s*method:\s*\.(\w+)")
GROUP_LET_RE = re.compile(r"\blet\s+(\w+)\s*=\s*(\w+)\.group\(\s*\"([^\"]*)\"\s*\)")
PARAM_FUNC_RE = re.compile(r"func\s+(\w+)\s*\(\s*to\s+(\w+)\s*:\s*RouterGroup<")
FOR_TUPLE_RE = re.compile(r"for\s+\((\w+)\s*,\s*\w+\)\s+in\s+\[(.*?)\]\s*\{", re.S)
FOR_PLAIN_RE = re.compile(r"for\s+(\w+)\s+in\s+\[([^\]]*)\]\s*\{", re.S)
QUERY_RE = re.compile(
    r"(?:queryParameters|parameters)\.(?:get|getAll|has)\(\s*(?:Substring\()?\"([^\"]+)\"|formValue\(\s*\"([^\"]+)\""
)


def _swift_sources() -> dict[str, str]:
    sources = {}
    for base in ("Services", "Shared"):
        for path in sorted((ROOT / base).rglob("*.swift")):
            rel = path.relative_to(ROOT).as_posix()
            if "/Tests/" in rel:
                continue
            sources[rel] = path.read_text(encoding="utf-8")
    return sources


SOURCES = _swift_sources()


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _loop_values(text: str) -> dict[str, list[str]]:
    """Values of `for (verb, _) in [("pass", ...), ...]` and `for verb in ["a", ...]` loops."""
    values: dict[str, list[str]] = {}
    for match in FOR_TUPLE_RE.finditer(text):
        values[match.group(1)] = re.findall(r"\(\s*\"([^\"]+)\"", match.group(2))
    for match in FOR_PLAIN_RE.finditer(text):
        found = re.findall(r"\"([^\"]+)\"", match.group(2))
        if found:
            values[match.group(1)] = found
    return values


def _expand(path: str, loops: dict[str, list[str]]) -> list[str]:
    """A route path with `\\(var)` interpolations expanded over the loop's values."""
    match = re.search(r"\\\((\w+)\)", path)
    if not match:
        return [path]
    name = match.group(1)
    assert name in loops, f"cannot expand interpolation \\({name}) in route {path!r}"
    expanded = []
    for value in loops[name]:
        expanded += _expand(path[: match.start()] + value + path[match.end() :], loops)
    return expanded


def _group_prefix(file: str, receiver: str, seen: frozenset = frozenset()) -> str:
    """The path prefix of a route receiver (`v1`, `agent`, `self`, `router`) in `file`."""
    text = SOURCES[file]
    for match in GROUP_LET_RE.finditer(text):
        if match.group(1) == receiver:
            return _group_prefix(file, match.group(2), seen) + "/" + match.group(3).strip("/")
    for match in PARAM_FUNC_RE.finditer(text):
        if match.group(2) != receiver:
            continue
        function = match.group(1)
        assert function not in seen, f"recursive route group function {function}"
        prefixes = set()
        call = re.compile(rf"\b{function}\(\s*to:\s*([^)]*\)?)\s*\)")
        # Call sites in the same file, else in the same module (folder): names such as
        # `addRoutes` recur across types.
        folder = file.rsplit("/", 1)[0]
        candidates = [file] if call.search(text) else [f for f in SOURCES if f.rsplit("/", 1)[0] == folder]
        for other in candidates:
            for site in call.finditer(SOURCES[other]):
                argument = site.group(1).strip()
                literal = re.fullmatch(r"(\w+)\.group\(\s*\"([^\"]*)\"\s*\)?", argument)
                if literal:
                    prefixes.add(_group_prefix(other, literal.group(1), seen) + "/" + literal.group(2).strip("/"))
                else:
                    prefixes.add(_group_prefix(other, argument, seen | {function}))
        assert len(prefixes) == 1, f"{file}: route group {receiver} of {function} has prefixes {prefixes}"
        return prefixes.pop()
    # `router`, or `self` inside `extension Router`: the root.
    assert receiver in ("router", "self"), f"{file}: cannot resolve the route group {receiver!r}"
    return ""


def _openapi_path(prefix: str, path: str) -> str:
    parts = [p for p in (prefix + "/" + path).split("/") if p]
    mapped = []
    for part in parts:
        if part.startswith(":"):
            mapped.append("{" + part[1:] + "}")
        elif part == "**":
            mapped.append("{catchall}")
        elif part == "*":
            mapped.append("{wildcard}")
        else:
            mapped.append(part)
    return "/" + "/".join(mapped)


def _shape(path: str) -> str:
    """A path with its parameter names erased (OpenAPI treats such paths as the same)."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _is_router(text: str, receiver: str) -> bool:
    """Whether `receiver` is a router or a route group in `text` (`api.put("/v1/...", json:)`
    of an HTTP client is not a route)."""
    if receiver == "self":
        return "extension Router" in text
    return bool(
        re.search(rf"\blet\s+{receiver}\s*=\s*(\w+\.group\(|Router\()", text)
        or re.search(rf"\b{receiver}\s*:\s*(RouterGroup|Router)<", text)
    )


def _code_routes() -> list[dict]:
    routes = []
    for file, text in SOURCES.items():
        loops = _loop_values(text)
        found = [(m.start(), m.group(1), m.group(2), m.group(3)) for m in ROUTE_RE.finditer(text)]
        found += [(m.start(), m.group(1), m.group(3), m.group(2)) for m in ON_RE.finditer(text)]
        found = [f for f in found if _is_router(text, f[1])]
        if not found:
            continue
        if file in NOT_API_FILES:
            continue
        assert file in ROUTE_FILES, (
            f"{file} registers routes but is not in ROUTE_FILES of {Path(__file__).name}: "
            "describe its routes in docs/openapi.yaml and add it there"
        )
        for offset, receiver, method, raw in found:
            prefix = _group_prefix(file, receiver)
            for path in _expand(raw, loops):
                routes.append(
                    {
                        "method": method.lower(),
                        "path": _openapi_path(prefix, path),
                        "service": ROUTE_FILES[file],
                        "where": f"{file}:{_line_of(text, offset)}",
                    }
                )
    return routes


CODE_ROUTES = _code_routes()
SPEC = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _spec_operations() -> list[dict]:
    operations = []
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                services = operation.get("x-mesh-service")
                operations.append(
                    {
                        "method": method,
                        "path": path,
                        "operation": operation,
                        "item": item,
                        "services": set(services if isinstance(services, list) else [services]),
                    }
                )
    return operations


SPEC_OPERATIONS = _spec_operations()


def _by_shape(entries):
    grouped = defaultdict(list)
    for entry in entries:
        grouped[(entry["method"], _shape(entry["path"]))].append(entry)
    return grouped


def test_routes_were_found():
    # A sanity check of the parser itself: a broken regex must not make the other tests vacuous.
    services = {route["service"] for route in CODE_ROUTES}
    assert services == set(ROUTE_FILES.values()), services
    assert len(CODE_ROUTES) >= 70, len(CODE_ROUTES)
    assert ("put", "/v1/agent/check/warn/{check}") in {(r["method"], r["path"]) for r in CODE_ROUTES}
    assert ("get", "/v1/agent/connect/ca/leaf/{service}") in {(r["method"], r["path"]) for r in CODE_ROUTES}
    assert ("get", "/metrics") in {(r["method"], r["path"]) for r in CODE_ROUTES}


def test_every_registered_route_is_described():
    described = _by_shape(SPEC_OPERATIONS)
    missing = [
        f"{route['method'].upper()} {route['path']} ({route['where']})"
        for route in CODE_ROUTES
        if (route["method"], _shape(route["path"])) not in described
    ]
    assert not missing, "routes missing from docs/openapi.yaml:\n" + "\n".join(missing)


def test_every_described_operation_is_registered():
    registered = _by_shape(CODE_ROUTES)
    stale = [
        f"{op['method'].upper()} {op['path']}"
        for op in SPEC_OPERATIONS
        if (op["method"], _shape(op["path"])) not in registered
    ]
    assert not stale, "operations in docs/openapi.yaml that no code registers:\n" + "\n".join(stale)


def test_path_parameter_names_match_the_code():
    registered = _by_shape(CODE_ROUTES)
    wrong = []
    for op in SPEC_OPERATIONS:
        routes = registered.get((op["method"], _shape(op["path"])), [])
        if routes and op["path"] not in {r["path"] for r in routes}:
            wrong.append(f"{op['method'].upper()} {op['path']}: code has {sorted({r['path'] for r in routes})}")
        declared = {
            p["name"]
            for p in op["operation"].get("parameters", []) + op["item"].get("parameters", [])
            for p in [_resolve(p)]
            if p["in"] == "path"
        }
        templated = set(re.findall(r"\{([^}]+)\}", op["path"]))
        if declared != templated:
            wrong.append(f"{op['method'].upper()} {op['path']}: path parameters declared {sorted(declared)}")
    assert not wrong, "\n".join(wrong)


def test_services_match_the_code():
    registered = _by_shape(CODE_ROUTES)
    wrong = []
    for op in SPEC_OPERATIONS:
        services = {r["service"] for r in registered.get((op["method"], _shape(op["path"])), [])}
        if services and op["services"] != services:
            wrong.append(f"{op['method'].upper()} {op['path']}: x-mesh-service {op['services']}, code {services}")
    assert not wrong, "\n".join(wrong)


def _gateway_rules() -> list[tuple[list[str], str]]:
    """DevGateway.upstream(for:) as (prefixes, service) rules, in order; the last is the default."""
    text = SOURCES[GATEWAY_FILE]
    lists = {
        name: re.findall(r"\"([^\"]+)\"", values)
        for name, values in re.findall(r"static let (\w+Prefixes)\s*=\s*\[(.*?)\]", text, re.S)
    }
    assert "iamAuthPrefixes" in lists, "DevGateway.iamAuthPrefixes not found"
    body = re.search(r"func upstream\(for path: String\) -> \w+ \{(.*?)\n    \}", text, re.S)
    assert body, "DevGateway.upstream(for:) not found"
    rules = []
    for condition, target in re.findall(r"if (.*?) \{ return self\.(\w+) \}", body.group(1)):
        prefixes = re.findall(r"hasPrefix\(\"([^\"]+)\"\)", condition)
        for name in re.findall(r"Self\.(\w+Prefixes)", condition):
            prefixes += lists[name]
        rules.append((prefixes, GATEWAY_SERVICES[target]))
    default = re.findall(r"\n\s*return self\.(\w+)\s*$", body.group(1))
    assert default, "DevGateway.upstream(for:) has no default"
    rules.append(([""], GATEWAY_SERVICES[default[-1]]))
    return rules


def _gateway_upstream(path: str) -> str:
    for prefixes, service in _gateway_rules():
        if any(path.startswith(prefix) for prefix in prefixes):
            return service
    raise AssertionError("unreachable")


def test_gateway_routes_each_operation_to_its_service():
    wrong = []
    for op in SPEC_OPERATIONS:
        control_plane = op["services"] - {"mesh-agent", "every"}
        if not control_plane:
            continue
        upstream = _gateway_upstream(op["path"])
        if upstream not in control_plane:
            wrong.append(f"{op['method'].upper()} {op['path']}: gateway sends it to {upstream}, served by {control_plane}")
    assert not wrong, "\n".join(wrong)


def test_local_agent_operations_are_tagged_and_served_locally():
    wrong = []
    for op in SPEC_OPERATIONS:
        tagged = "local-agent" in op["operation"].get("tags", [])
        local_only = op["services"] == {"mesh-agent"}
        if tagged != local_only:
            wrong.append(f"{op['method'].upper()} {op['path']}: tags {op['operation'].get('tags')}, served by {op['services']}")
        if local_only and not op["item"].get("servers"):
            wrong.append(f"{op['method'].upper()} {op['path']}: local-agent path without its own servers")
    assert not wrong, "\n".join(wrong)


def _resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_query_parameters_read_by_the_handlers_are_described():
    by_service = defaultdict(set)
    for op in SPEC_OPERATIONS:
        names = {
            _resolve(p)["name"]
            for p in op["operation"].get("parameters", []) + op["item"].get("parameters", [])
            if _resolve(p)["in"] == "query"
        }
        for service in op["services"]:
            by_service[service] |= names
    every = set().union(*by_service.values())
    query_schemes = {s["name"] for s in SPEC["components"]["securitySchemes"].values() if s.get("in") == "query"}
    missing = []
    for file, service in ROUTE_FILES.items():
        text = SOURCES[file]
        for match in QUERY_RE.finditer(text):
            name = match.group(1) or match.group(2)
            known = every if service == "every" else by_service[service]
            if name not in known | query_schemes:
                missing.append(f"?{name} ({file}:{_line_of(text, match.start())})")
    assert not missing, "query parameters read but not described:\n" + "\n".join(missing)


def test_spec_is_well_formed():
    ids = [op["operation"].get("operationId") for op in SPEC_OPERATIONS]
    assert all(ids), "every operation needs an operationId"
    assert len(ids) == len(set(ids)), "duplicate operationIds"
    for op in SPEC_OPERATIONS:
        assert op["operation"].get("responses"), f"{op['path']}: no responses"
        assert op["services"] and None not in op["services"], f"{op['path']}: no x-mesh-service"
    try:
        from openapi_spec_validator import validate
    except ImportError:
        pytest.skip("openapi-spec-validator not installed")
    validate(SPEC)
