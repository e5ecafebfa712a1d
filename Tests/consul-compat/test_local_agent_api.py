"""The local agent's whole address, as a Consul client agent's: what it does not serve itself
(KV, sessions, transactions, the catalog, ACLs...) passes through mesh-agent to the control plane
with the caller's token; `PUT /v1/agent/token/default` sets the token of callers that send none
(on mesh-agent and on `meshctl dev`); gRPC health checks (`GRPC`, `GRPCUseTLS`) probed with the
standard health protocol of a real grpcio server.

Needs CONSUL_HTTP_ADDR, MESH_TOKEN, MESH_BIN and MESH_DEV_LOG (see test_py_consul_agent).
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent import futures

import consul
import grpc
import pytest
import requests
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq
from test_py_consul_agent import Agent, pytestmark  # noqa: F401  (the same skip condition)


def _await(predicate, what: str, deadline: float = 30.0):
    """Polls `predicate` (a read of state, not a sleep standing in for an event) until it holds."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def mesh_agent():
    running = Agent()
    try:
        yield running
    finally:
        running.stop()


def test_kv_sessions_txn_and_catalog_pass_through_the_agent(mesh_agent):
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    local = mesh_agent.local
    key = uniq("through-agent")
    assert local.kv.put(key, "v1") is True
    # Written through the agent, read at the control plane's address: one store.
    assert admin.kv.get(key)[1]["Value"] == b"v1"
    index, entry = local.kv.get(key)
    assert entry["Value"] == b"v1" and int(index) > 0
    # A blocking read through the agent wakes on a write made elsewhere, with the index header.
    woke: list = []
    reader = threading.Thread(target=lambda: woke.append(local.kv.get(key, index=index, wait="30s")))
    reader.start()
    assert admin.kv.put(key, "v2") is True
    reader.join(timeout=40)
    assert woke and woke[0][1]["Value"] == b"v2"
    # A session created at the agent binds to its node; a lock taken with it is seen everywhere.
    session = local.session.create(ttl=30)
    assert local.session.info(session)[1]["Node"] == f"node-{mesh_agent.service}"
    assert local.kv.put(f"{key}/lock", "me", acquire=session) is True
    assert admin.kv.get(f"{key}/lock")[1]["Session"] == session
    assert local.session.destroy(session) is True
    # A transaction and the catalog, too.
    ops = [{"KV": {"Verb": "set", "Key": f"{key}/t", "Value": "dA=="}}]
    answer = requests.put(
        f"http://127.0.0.1:{mesh_agent.api_port}/v1/txn", json=ops, headers=RAW_HEADERS, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert admin.kv.get(f"{key}/t")[1]["Value"] == b"t"
    _, nodes = local.catalog.service(mesh_agent.service)
    assert [n["ServiceID"] for n in nodes] == [mesh_agent.service]


def test_the_agent_passes_the_callers_token_never_its_own(mesh_agent):
    """The agent runs with a management token here; an anonymous caller of its address must
    still be refused by the control plane (default deny), and nothing is written."""
    key = uniq("anon-through-agent")
    anonymous = consul.Consul(host="127.0.0.1", port=mesh_agent.api_port)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.put(key, "x")
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.acl.token.list()
    assert consul.Consul(host=HOST, port=PORT, token=TOKEN).kv.get(key)[1] is None
    # Bad input through the agent gets the control plane's answer, unchanged.
    big = requests.put(
        f"http://127.0.0.1:{mesh_agent.api_port}/v1/kv/{key}",
        data=b"x" * (512 * 1024 + 1),
        headers=RAW_HEADERS,
        timeout=30,
    )
    assert big.status_code == 413
    assert consul.Consul(host=HOST, port=PORT, token=TOKEN).kv.get(key)[1] is None


def _scoped_token(prefix: str) -> str:
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    policy = admin.acl.policy.create(uniq("default-token"), rules={"key_prefix": {prefix: {"policy": "read"}}})
    return admin.acl.token.create(description="default token test", policies_id=[policy["ID"]])["SecretID"]


@pytest.mark.parametrize("where", ["dev", "mesh-agent"])
def test_the_default_token_serves_callers_without_one(where, mesh_agent):
    base = BASE_URL if where == "dev" else f"http://127.0.0.1:{mesh_agent.api_port}"
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    prefix = uniq("default-token") + "/"
    assert admin.kv.put(prefix + "visible", "yes")
    default = _scoped_token(prefix)
    # An anonymous caller may not set it, and nothing changes.
    refused = requests.put(f"{base}/v1/agent/token/default", json={"Token": default}, timeout=10)
    assert refused.status_code == 403, refused.text
    assert requests.get(f"{base}/v1/kv/{prefix}visible", timeout=10).status_code == 403
    try:
        set_ = requests.put(f"{base}/v1/agent/token/default", json={"Token": default}, headers=RAW_HEADERS, timeout=10)
        assert set_.status_code == 200, set_.text
        # Token-less callers now act as the default token: its reads, not more.
        read = requests.get(f"{base}/v1/kv/{prefix}visible", timeout=10)
        assert read.status_code == 200 and read.json()[0]["Key"] == prefix + "visible"
        assert requests.put(f"{base}/v1/kv/{prefix}visible", data=b"no", timeout=10).status_code == 403
        # A caller's own token still wins over the default.
        assert requests.put(
            f"{base}/v1/kv/{prefix}mine", data=b"ok", headers=RAW_HEADERS, timeout=10
        ).json() is True
    finally:
        reset = requests.put(f"{base}/v1/agent/token/default", json={"Token": ""}, headers=RAW_HEADERS, timeout=10)
        assert reset.status_code == 200, reset.text
    assert requests.get(f"{base}/v1/kv/{prefix}visible", timeout=10).status_code == 403
    assert admin.kv.get(prefix + "visible")[1]["Value"] == b"yes"


def test_token_types_that_do_not_apply_and_unknown_ones():
    for kind in ["agent", "agent_recovery", "replication", "dns", "config_file_service_registration"]:
        answer = requests.put(f"{BASE_URL}/v1/agent/token/{kind}", json={"Token": "x"}, headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 400, (kind, answer.text)
        assert f'Token "{kind}" does not apply to this agent' in answer.text
    unknown = requests.put(f"{BASE_URL}/v1/agent/token/nope", json={"Token": "x"}, headers=RAW_HEADERS, timeout=10)
    assert (unknown.status_code, unknown.text.strip()) == (404, 'Token "nope" is unknown')
    malformed = requests.put(f"{BASE_URL}/v1/agent/token/default", data=b"{", headers=RAW_HEADERS, timeout=10)
    assert malformed.status_code == 400
    assert requests.get(f"{BASE_URL}/v1/agent/token/default", headers=RAW_HEADERS, timeout=10).status_code == 405


@pytest.fixture
def grpc_app():
    """A real grpcio server with the standard health service on a loopback port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.set("orders", health_pb2.HealthCheckResponse.SERVING)
    try:
        yield port, servicer
    finally:
        server.stop(grace=None)


def _check_of(c: consul.Consul, check_id: str):
    return c.agent.checks().get(check_id)


def test_grpc_check_follows_the_apps_health_service(grpc_app):
    port, servicer = grpc_app
    c = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    name = uniq("grpc-app")
    check_id = f"{name}-grpc"
    assert c.agent.service.register(
        name, service_id=name, port=port, check=consul.Check.grpc(f"127.0.0.1:{port}/orders", "200ms")
        | {"CheckID": check_id},
    )
    try:
        passing = _await(lambda: (x := _check_of(c, check_id)) and x["Status"] == "passing" and x, "passing")
        assert passing["Type"] == "grpc"
        assert passing["Output"] == f"gRPC check 127.0.0.1:{port}/orders: success"
        assert passing["Definition"]["GRPC"] == f"127.0.0.1:{port}/orders"
        servicer.set("orders", health_pb2.HealthCheckResponse.NOT_SERVING)
        critical = _await(lambda: (x := _check_of(c, check_id)) and x["Status"] == "critical" and x, "critical")
        assert critical["Output"] == f"gRPC 127.0.0.1:{port}/orders serving status: NOT_SERVING"
        # The catalog has it too (health reads see the probe's writes).
        _, checks = c.health.checks(name)
        assert [x["Status"] for x in checks if x["CheckID"] == check_id] == ["critical"]
        servicer.set("orders", health_pb2.HealthCheckResponse.SERVING)
        _await(lambda: (x := _check_of(c, check_id)) and x["Status"] == "passing", "passing again")
    finally:
        c.agent.service.deregister(name)


def test_grpc_check_of_a_peer_that_never_speaks_or_an_unknown_service_is_critical(grpc_app):
    port, _ = grpc_app
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does), never answers a byte
    c = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    name = uniq("grpc-silent")
    checks = [
        consul.Check.grpc(f"127.0.0.1:{silent.getsockname()[1]}", "500ms") | {"CheckID": f"{name}-silent"},
        consul.Check.grpc(f"127.0.0.1:{port}/no-such-service", "500ms") | {"CheckID": f"{name}-unknown"},
    ]
    body = {"Name": name, "ID": name, "Port": port, "Checks": checks}
    answer = requests.put(f"{BASE_URL}/v1/agent/service/register", json=body, headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    try:
        for suffix in ["silent", "unknown"]:
            check = _await(
                lambda: (x := _check_of(c, f"{name}-{suffix}")) and x["Output"] and x, f"{suffix} probed"
            )
            assert check["Status"] == "critical", check
        # grpcio answers an unknown service name NOT_FOUND; the output says so as Consul's does.
        assert "rpc error: code = NotFound" in _check_of(c, f"{name}-unknown")["Output"]
        # The silent peer: cut off by the check's timeout (the interval here), not left hanging.
        assert "rpc error: code = " in _check_of(c, f"{name}-silent")["Output"]
    finally:
        c.agent.service.deregister(name)
        silent.close()


def test_grpc_check_definitions_are_validated():
    c = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    name = uniq("grpc-bad")
    for check, message in [
        ({"GRPC": "127.0.0.1:1"}, "Interval must be > 0"),
        ({"GRPC": "no-port", "Interval": "1s"}, "GRPC must be host:port[/service]"),
    ]:
        answer = requests.put(
            f"{BASE_URL}/v1/agent/service/register",
            json={"Name": name, "Port": 1, "Check": check},
            headers=RAW_HEADERS,
            timeout=10,
        )
        assert answer.status_code == 400 and message in answer.text, answer.text
    assert name not in c.agent.services()
