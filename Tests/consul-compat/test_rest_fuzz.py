"""A small, deterministic schemathesis fuzz of the REST API described in docs/openapi.yaml.

Runs against a live server, as the other tests of this folder: CONSUL_HTTP_ADDR
(``host:port``, optionally ``http://host:port``) and MESH_TOKEN (a management token); the
tests are skipped when either is missing. Every operation but mesh-agent's local API
(tag ``local-agent``, not behind the control plane's address) and registration through an
agent (tag ``agent-registration``: a registered check would be probed at whatever address the
fuzzer made up) gets its examples, the coverage
phase's boundary and negative cases (FUZZ_COVERAGE=0 turns it off) and FUZZ_MAX_EXAMPLES (3)
random ones, with a fixed seed; each request is sent twice: with the management token and
with a narrow token (``service_identities: fuzz``) made for the run. The check is Consul's
contract that input never makes a server error: no 5xx, no hang (a request timeout), no
crash (after one, the remaining operations are skipped). About 5,600 requests, 25-45 s.

This module is also the schemathesis hooks module of ``scripts/fuzz-rest.sh``'s long run
(``SCHEMATHESIS_HOOKS=test_rest_fuzz``): the hooks keep blocking queries short, keep the
fuzzer from ever sending a login that could reach AWS, count answers by status
(FUZZ_STATS_FILE) and record each 5xx with its curl command (FUZZ_FAILURES_FILE), steer
some requests at the narrow token's service (FUZZ_STEER_SERVICE / FUZZ_STEER_NODE), and
avoid requests known to crash a service (FUZZ_AVOID_KNOWN_CRASHES=1).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

# Skipped, not an error, where schemathesis is not installed (`pip install schemathesis`).
schemathesis = pytest.importorskip("schemathesis")

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"

SEED = 20261204
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "3"))
REQUEST_TIMEOUT = float(os.environ.get("FUZZ_REQUEST_TIMEOUT", "10"))
NARROW_SERVICE = "fuzz"

# ---------------------------------------------------------------------------------------
# Hooks (used by this module's tests and by scripts/fuzz-rest.sh's `st run`)
# ---------------------------------------------------------------------------------------

GO_DURATION = re.compile(r"^\s*\+?([0-9.]+(ns|us|µs|μs|ms|s|m|h))+\s*$")
_stats_lock = threading.Lock()


def _record(line: str) -> None:
    path = os.environ.get("FUZZ_STATS_FILE")
    if not path:
        return
    with _stats_lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


INT64_MAX = 2**63 - 1


def _cas_beyond_int64(case) -> bool:
    """`?cas=` above Int64.max on the config entry writes traps catalog-svc (`Int64(cas)`)."""
    if case.operation.path not in ("/v1/config", "/v1/config/{kind}/{name}") or not isinstance(case.query, dict):
        return False
    try:
        return int(str(case.query.get("cas", "")).strip()) > INT64_MAX
    except ValueError:
        return False


# Requests known to crash a service, avoided only when FUZZ_AVOID_KNOWN_CRASHES=1 (the long
# run sets it so that one known crash does not end the run; the pytest run does not).
KNOWN_CRASHES = {
    "cas-beyond-int64": (_cas_beyond_int64, lambda case: case.query.__setitem__("cas", str(INT64_MAX))),
}


_steer_counter = itertools.count()


def _steer(case) -> None:
    """Every other request of a steered run names FUZZ_STEER_SERVICE (and FUZZ_STEER_NODE,
    a node made beforehand), so that a narrow token's writes sometimes are allowed ones."""
    service = os.environ.get("FUZZ_STEER_SERVICE")
    if not service or next(_steer_counter) % 2:
        return
    node = os.environ.get("FUZZ_STEER_NODE", "")
    path, body = case.operation.path, case.body
    for key in ("service", "name"):
        if isinstance(case.path_parameters, dict) and key in case.path_parameters:
            case.path_parameters[key] = service
    if isinstance(case.query, dict):
        if "destination" in case.query:
            case.query["destination"] = service
        if "node" in case.query and node:
            case.query["node"] = node
    if not isinstance(body, dict):
        return
    if path in ("/v1/catalog/register", "/v1/catalog/deregister") and node:
        body["Node"] = node
        if path == "/v1/catalog/register":
            body["SkipNodeUpdate"] = True
            if isinstance(body.get("Service"), dict):
                body["Service"]["Service"] = service
    elif path == "/v1/config" and body.get("Kind") == "service-defaults":
        body["Name"] = service
    elif path == "/v1/connect/intentions" and "DestinationName" in body:
        body["DestinationName"] = service


@schemathesis.hook
def before_call(context, case, kwargs):
    """Keeps each request bounded and local.

    * A blocking query (`?index=` above the current index) waits up to `?wait=` (default
      5 minutes when absent or empty, as Consul): the wait is cut to 10ms whenever an index
      is given, unless the wait is not a duration at all (then the server answers 400 at once).
    * `POST /v1/acl/login` replays a signed STS request from the bearer token; a token
      that looks like real aws-iam login data is replaced, so nothing can leave the machine.
    """
    _steer(case)
    query = case.query
    if isinstance(query, dict) and query.get("index") not in (None, "", []):
        wait = query.get("wait")
        if wait is None or isinstance(wait, (int, float)) or str(wait).strip() == "" or GO_DURATION.match(str(wait)):
            query["wait"] = "10ms"
    body = case.body
    if case.operation.path == "/v1/acl/login" and isinstance(body, dict):
        for key in list(body):
            if key.lower() == "bearertoken" and "iam_" in str(body[key]).lower():
                body[key] = "not-a-login-token"
    if os.environ.get("FUZZ_AVOID_KNOWN_CRASHES") == "1":
        for name, (matches, defuse) in KNOWN_CRASHES.items():
            if matches(case):
                defuse(case)
                _record(f"avoided:{name}\t{case.method}\t{case.operation.path}\t-")
    kwargs.setdefault("timeout", REQUEST_TIMEOUT)


def has_nul(value) -> bool:
    """Whether a NUL character is anywhere in a request part (PostgreSQL text refuses it)."""
    if isinstance(value, str):
        return "\x00" in value or "%00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    return False


def _request_has_nul(case) -> bool:
    return any(has_nul(part) for part in (case.path_parameters, case.query, case.headers, case.body))


def _record_failure(case, status, body: str) -> None:
    path = os.environ.get("FUZZ_FAILURES_FILE")
    if not path:
        return
    entry = {
        "status": status,
        "method": case.method,
        "path": case.operation.path,
        "token": os.environ.get("FUZZ_TOKEN_LABEL", ""),
        "nul": _request_has_nul(case),
        "body": body[:500],
        "curl": case.as_curl_command(),
    }
    with _stats_lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


@schemathesis.hook
def after_call(context, case, response):
    token = (case.headers or {}).get("X-Consul-Token", "")
    nul = "nul" if _request_has_nul(case) else "-"
    _record(f"{response.status_code}\t{case.method}\t{case.operation.path}\t{_who(token)}\t{nul}")
    if response.status_code >= 500:
        _record_failure(case, response.status_code, response.text if hasattr(response, "text") else "")


@schemathesis.hook
def after_network_error(context, case, request):
    token = (case.headers or {}).get("X-Consul-Token", "") if case.headers else ""
    nul = "nul" if _request_has_nul(case) else "-"
    _record(f"network-error\t{case.method}\t{case.operation.path}\t{_who(token)}\t{nul}")
    _record_failure(case, "network-error", "")


def _who(token: str) -> str:
    return os.environ.get("FUZZ_TOKEN_LABEL", "management" if token == os.environ.get("MESH_TOKEN") else "narrow")


# ---------------------------------------------------------------------------------------
# The bounded pytest run
# ---------------------------------------------------------------------------------------


def _base_url() -> str | None:
    raw = os.environ.get("CONSUL_HTTP_ADDR")
    if not raw:
        return None
    parsed = urllib.parse.urlparse(raw if "//" in raw else "//" + raw)
    return f"{parsed.scheme or 'http'}://{parsed.hostname or '127.0.0.1'}:{parsed.port or 8500}"


BASE_URL = _base_url()
MANAGEMENT_TOKEN = os.environ.get("MESH_TOKEN") or None

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["all"],
        # Nothing written into the work tree (a `.schemathesis/` cache of failures).
        "cache": {"enabled": False},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": os.environ.get("FUZZ_COVERAGE", "1") == "1"},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "mode": "all",
            "no-shrink": True,
            "database": "none",
        },
    }
)
SCHEMA = (
    schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)
    .exclude(tag="local-agent")
    .exclude(tag="agent-registration")
)


@pytest.fixture(scope="module")
def tokens():
    """The management token and a narrow token (`service_identities: fuzz`) made for the run."""
    if not BASE_URL or not MANAGEMENT_TOKEN:
        pytest.skip("CONSUL_HTTP_ADDR and MESH_TOKEN are needed (a running meshctl dev)")
    host = urllib.parse.urlparse(BASE_URL).hostname
    assert host in ("127.0.0.1", "localhost", "::1"), f"fuzzing only a loopback server, not {host}"
    session = requests.Session()
    answer = session.put(
        f"{BASE_URL}/v1/acl/token",
        json={"Description": "test_rest_fuzz narrow token", "ServiceIdentities": [{"ServiceName": NARROW_SERVICE}]},
        headers={"X-Consul-Token": MANAGEMENT_TOKEN},
        timeout=10,
    )
    answer.raise_for_status()
    narrow = answer.json()
    yield {"management": MANAGEMENT_TOKEN, "narrow": narrow["SecretID"]}
    try:
        session.delete(
            f"{BASE_URL}/v1/acl/token/{narrow['AccessorID']}", headers={"X-Consul-Token": MANAGEMENT_TOKEN}, timeout=10
        )
    except requests.exceptions.RequestException:
        pass  # the server is down: test_no_server_error has said so


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:
        yield session


# Set when the server stopped answering: the operations after it are skipped, not failed.
SERVER_DOWN: list[str] = []


@SCHEMA.parametrize()
def test_no_server_error(case, tokens, session):
    """Both tokens: no 5xx, and an answer within the request timeout."""
    from schemathesis.checks import not_a_server_error

    if SERVER_DOWN:
        pytest.skip(f"the server stopped answering after {SERVER_DOWN[0]}")
    for who in ("management", "narrow"):
        case.headers = dict(case.headers or {})
        case.headers["X-Consul-Token"] = tokens[who]
        started = time.monotonic()
        try:
            response = case.call(base_url=BASE_URL, session=session, timeout=REQUEST_TIMEOUT)
        except requests.exceptions.Timeout:
            pytest.fail(f"{who} token: no answer within {REQUEST_TIMEOUT}s (hang)\n{case.as_curl_command()}")
        except requests.exceptions.ConnectionError as error:
            SERVER_DOWN.append(f"{case.method} {case.operation.path}")
            pytest.fail(f"{who} token: connection failed (a crash?): {error}\n{case.as_curl_command()}")
        elapsed = time.monotonic() - started
        case.validate_response(response, checks=[not_a_server_error])
        assert elapsed < REQUEST_TIMEOUT, f"{who} token: {elapsed:.1f}s\n{case.as_curl_command()}"
