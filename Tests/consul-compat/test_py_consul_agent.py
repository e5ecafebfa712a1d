"""py-consul's local agent API (`consul.Consul().agent`) against a real `mesh-agent run`
beside `meshctl dev`: self, services, service register/deregister with a TTL check, check
pass/warn/fail, checks, connect CA roots and a leaf certificate, and the refusals.

Needs CONSUL_HTTP_ADDR, MESH_TOKEN, MESH_BIN (the built executables) and MESH_DEV_LOG (the
dev server's log: the config-distributor's address and the dev CA come from it).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, TOKEN

BIN = os.environ.get("MESH_BIN")
DEV_LOG = os.environ.get("MESH_DEV_LOG")

pytestmark = pytest.mark.skipif(
    not (TOKEN and BIN and DEV_LOG), reason="needs MESH_TOKEN, MESH_BIN and MESH_DEV_LOG"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dev_settings() -> tuple[str, str]:
    text = open(DEV_LOG, encoding="utf-8").read()
    grpc = re.search(r"config-distributor ready \(http \S+, grpc (\S+)\)", text)
    ca = re.search(r"dev CA (\S+)\)", text)
    assert grpc and ca, text
    return grpc.group(1), ca.group(1)


class Agent:
    """A `mesh-agent run` for service `web-<id>` with its local API on a free port; stopped by PID."""

    def __init__(self, extra: list[str] | None = None, app_port: int | None = None):
        distributor, ca = _dev_settings()
        self.service = f"web-{uuid.uuid4().hex[:8]}"
        self.api_port = _free_port()
        self.workdir = tempfile.mkdtemp()
        self.log_path = os.path.join(self.workdir, "agent.log")
        args = [
            os.path.join(BIN, "mesh-agent"), "run", "--init", "--token", TOKEN, "--no-logout",
            "--http-addr", f"{HOST}:{PORT}", "--service", self.service, "--port", str(app_port or _free_port()),
            "--node", f"node-{self.service}", "--address", "127.0.0.1",
            "--token-file", os.path.join(self.workdir, "token"), "--api-addr", f"127.0.0.1:{self.api_port}",
            "--distributor-addr", distributor, "--distributor-ca-file", ca, "--sync-interval", "200ms",
        ] + (extra or [])
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Ready when it logs its listener (the event), with a generous deadline to catch a hang.
        deadline = time.monotonic() + 60
        while "local agent API listening" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(self.log())
            time.sleep(0.1)
        self.local = consul.Consul(host="127.0.0.1", port=self.api_port, token=TOKEN)

    def log(self) -> str:
        return open(self.log_path, encoding="utf-8").read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def agent():
    running = Agent()
    try:
        yield running.service, running.local, running.process
    finally:
        running.stop()


def test_self_and_own_services(agent):
    service, local, _ = agent
    me = local.agent.self()
    assert me["Config"]["NodeName"] == f"node-{service}"
    assert me["Config"]["Datacenter"] == "dc1"
    assert me["Member"]["Tags"]["role"] == "node"
    services = local.agent.services()
    assert services[service]["Service"] == service
    sidecar = services[f"{service}-sidecar-proxy"]
    assert sidecar["Kind"] == "connect-proxy"
    assert sidecar["Proxy"]["DestinationServiceName"] == service
    assert local.agent.service_definition("no-such-id") is None


def test_register_ttl_check_pass_warn_fail_deregister(agent):
    service, local, _ = agent
    extra = f"{service}-worker"
    check_id = f"{extra}-ttl"
    assert local.agent.service.register(
        extra, service_id=extra, port=7000, tags=["v1"], check=consul.Check.ttl("30s") | {"CheckID": check_id}
    )
    assert local.agent.services()[extra]["Tags"] == ["v1"]
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    _, nodes = admin.catalog.service(extra)
    assert [n["ServiceID"] for n in nodes] == [extra]

    def status() -> str:
        return local.agent.checks()[check_id]["Status"]

    assert status() == "critical"  # Consul's initial status
    assert local.agent.check.ttl_pass(check_id, "all good")
    assert status() == "passing"
    assert local.agent.checks()[check_id]["Output"] == "all good"
    assert local.agent.check.ttl_warn(check_id)
    assert status() == "warning"
    assert local.agent.check.ttl_fail(check_id)
    assert status() == "critical"
    # Unknown IDs: Consul's 404s, which py-consul reports as False.
    assert local.agent.check.ttl_pass("no-such-check") is False
    assert local.agent.service.deregister("no-such-service") is False
    assert local.agent.service.deregister(extra)
    assert extra not in local.agent.services()
    _, nodes = admin.catalog.service(extra)
    assert nodes == []


def test_bad_registrations_change_nothing(agent):
    service, local, _ = agent
    before = local.agent.services()
    with pytest.raises(consul.ConsulException):
        # Interval with no probe and no TTL is no check at all.
        local.agent.service.register(f"{service}-bad", check={"Interval": "10s"})
    with pytest.raises(consul.ConsulException):
        local.agent.service.register(f"{service}-bad", check={"TTL": "10s", "Interval": "10s"})
    assert local.agent.services() == before


def test_connect_roots_and_leaf(agent):
    service, local, _ = agent
    roots = local.agent.connect.ca.roots()
    assert roots["Roots"] and roots["ActiveRootID"]
    leaf = local.agent.connect.ca.leaf(service)
    assert leaf["Service"] == service
    assert leaf["ServiceURI"].endswith(f"/svc/{service}")
    assert "BEGIN CERTIFICATE" in leaf["CertPEM"] and "PRIVATE KEY" in leaf["PrivateKeyPEM"]
    # The same leaf while it is fresh.
    assert local.agent.connect.ca.leaf(service)["SerialNumber"] == leaf["SerialNumber"]


def test_leaf_needs_service_write(agent):
    service, local, _ = agent
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    limited = admin.acl.token.create(service_identities=[{"ServiceName": service}])
    limited_local = consul.Consul(host=local.http.host, port=local.http.port, token=limited["SecretID"])
    assert limited_local.agent.connect.ca.leaf(service)["Service"] == service
    with pytest.raises(consul.ACLPermissionDenied):
        limited_local.agent.connect.ca.leaf("someone-else")
    admin.acl.token.delete(limited["AccessorID"])


def test_a_caller_without_a_token_does_not_act_with_the_agents(agent):
    """The agent's own token (the task's service identity) never serves a caller that brings none."""
    service, local, _ = agent
    anonymous = consul.Consul(host=local.http.host, port=local.http.port, token=None)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.agent.connect.ca.leaf(service)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.agent.service.register(f"{service}-extra", service_id=f"{service}-extra", port=7002)
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    assert admin.catalog.service(f"{service}-extra")[1] == []


def test_sigterm_deregisters_what_was_registered_locally(agent):
    service, local, process = agent
    extra = f"{service}-job"
    assert local.agent.service.register(extra, service_id=extra, port=7001)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    assert admin.catalog.service(extra)[1] == []
    assert admin.catalog.service(service)[1] == []


def _instance_status(admin, service: str) -> str:
    _, checks = admin.health.checks(service)
    synced = [c for c in checks if c["CheckID"].endswith(":ecs-health")]
    return synced[0]["Status"] if synced else ""


def _await(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_tcp_check_follows_the_app_port():
    """Off ECS, `--tcp-check host:port` keeps the instance passing while the port accepts."""
    admin = consul.Consul(host=HOST, port=PORT, token=TOKEN)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    running = Agent(["--tcp-check", f"127.0.0.1:{port}"], app_port=port)
    try:
        _await(lambda: _instance_status(admin, running.service) == "passing", "the TCP check to pass")
        listener.close()
        _await(lambda: _instance_status(admin, running.service) == "critical", "the TCP check to fail")
    finally:
        listener.close()
        running.stop()


def test_check_register_and_deregister(agent):
    service, local, _ = agent
    extra = f"{service}-svc"
    assert local.agent.service.register(extra, service_id=extra, port=7002)
    assert local.agent.check.register("alive", check=consul.Check.ttl("30s"), check_id=f"{extra}-alive", service_id=extra)
    checks = local.agent.checks()
    assert checks[f"{extra}-alive"]["Status"] == "critical"
    assert checks[f"{extra}-alive"]["ServiceID"] == extra
    assert local.agent.check.ttl_pass(f"{extra}-alive")
    assert local.agent.checks()[f"{extra}-alive"]["Status"] == "passing"
    # A check of a service this agent does not have: Consul's 404 (py-consul: False).
    assert local.agent.check.register("x", check=consul.Check.ttl("30s"), service_id="no-such-service") is False
    assert local.agent.check.deregister(f"{extra}-alive")
    assert f"{extra}-alive" not in local.agent.checks()
    assert local.agent.check.deregister(f"{extra}-alive") is False


def test_a_probed_check_leaves_the_services_ttl_check_alone(agent):
    """The agent writes only the check it probes (a TCP check turning critical must not reset the
    app's TTL check on the same service to its initial status)."""
    service, local, _ = agent
    extra = f"{service}-both"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        assert local.agent.service.register(
            extra,
            service_id=extra,
            port=port,
            check={"CheckID": f"{extra}-ttl", "TTL": "60s"},
            extra_checks=[{"CheckID": f"{extra}-tcp", "TCP": f"127.0.0.1:{port}", "Interval": "200ms"}],
        )
        _await(lambda: local.agent.checks()[f"{extra}-tcp"]["Status"] == "passing", "the TCP check to pass")
        assert local.agent.check.ttl_pass(f"{extra}-ttl", "app ok")
        listener.close()
        _await(lambda: local.agent.checks()[f"{extra}-tcp"]["Status"] == "critical", "the TCP check to fail")
        ttl = local.agent.checks()[f"{extra}-ttl"]
        assert (ttl["Status"], ttl["Output"]) == ("passing", "app ok")
    finally:
        listener.close()


def test_bad_check_calls_are_refused_and_change_nothing(agent):
    service, local, _ = agent
    extra = f"{service}-bad-checks"
    assert local.agent.service.register(extra, service_id=extra, port=7003, check=consul.Check.ttl("30s"))
    base = f"http://127.0.0.1:{local.http.port}/v1/agent"
    headers = {"X-Consul-Token": TOKEN}
    def own_checks():
        return {k: v for k, v in local.agent.checks().items() if v["ServiceID"] == extra}

    before = own_checks()
    # check/update: a status Consul does not know is a 400 naming it; the check keeps its state.
    answer = requests.put(f"{base}/check/update/service:{extra}", json={"Status": "fine"}, headers=headers)
    assert answer.status_code == 400 and "Invalid check status: 'fine'" in answer.text
    # check/register: no name, no ServiceID (node checks are refused), unknown keys.
    answer = requests.put(f"{base}/check/register", json={"TTL": "30s", "ServiceID": extra}, headers=headers)
    assert answer.status_code == 400 and "Missing check name" in answer.text
    answer = requests.put(f"{base}/check/register", json={"Name": "node", "TTL": "30s"}, headers=headers)
    assert answer.status_code == 400 and "ServiceID is required" in answer.text
    answer = requests.put(
        f"{base}/check/register", json={"Name": "c", "TTL": "30s", "ServiceID": extra, "Bogus": 1}, headers=headers
    )
    assert answer.status_code == 400 and 'unknown field "Bogus"' in answer.text
    # service/register: an unknown key is refused, as Consul's strict decoder does.
    answer = requests.put(f"{base}/service/register", json={"Name": f"{extra}-2", "Colour": "red"}, headers=headers)
    assert answer.status_code == 400 and 'unknown field "Colour"' in answer.text
    assert own_checks() == before
    assert f"{extra}-2" not in local.agent.services()
