"""`meshctl dev` serves the Consul agent API of its dev node on its one REST address, as a Consul
dev agent does: py-consul's `agent.service.register` / `agent.services()` / `agent.self()`
against CONSUL_HTTP_ADDR work unchanged, through the same ACLs as the catalog.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev server's management token).
"""

from __future__ import annotations

import uuid

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, TOKEN

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")


def _client(token: str | None = TOKEN) -> consul.Consul:
    return consul.Consul(host=HOST, port=PORT, token=token)


def test_self_names_the_dev_node():
    me = _client().agent.self()
    assert me["Config"]["Datacenter"] == "dc1"
    assert me["Config"]["NodeName"]
    assert me["Member"]["Name"] == me["Config"]["NodeName"]
    members = _client().agent.members()
    assert [m["Name"] for m in members] == [me["Config"]["NodeName"]]


def test_register_list_pass_and_deregister_a_service():
    c = _client()
    node = c.agent.self()["Config"]["NodeName"]
    name = f"dev-svc-{uuid.uuid4().hex[:8]}"
    sid = f"{name}-1"
    assert c.agent.service.register(name, service_id=sid, port=9090, tags=["v1"], check=consul.Check.ttl("30s"))
    listed = c.agent.services()
    assert listed[sid]["Service"] == name and listed[sid]["Port"] == 9090 and listed[sid]["Tags"] == ["v1"]
    # In the catalog on the dev node, its TTL check registered critical (Consul's start for TTL checks).
    _, instances = c.catalog.service(name)
    assert [(i["ServiceID"], i["Node"]) for i in instances] == [(sid, node)]
    check_id = f"service:{sid}"
    assert c.agent.checks()[check_id]["Status"] == "critical"
    assert c.agent.check.ttl_pass(check_id, "fine") is True
    assert c.agent.checks()[check_id]["Status"] == "passing"
    _, healthy = c.health.service(name, passing=True)
    assert [entry["Service"]["ID"] for entry in healthy] == [sid]
    assert c.agent.service.deregister(sid) is True
    assert sid not in c.agent.services()
    assert c.catalog.service(name)[1] == []


def test_an_anonymous_caller_registers_nothing():
    name = f"dev-anon-{uuid.uuid4().hex[:8]}"
    answer = requests.put(f"{BASE_URL}/v1/agent/service/register", json={"Name": name, "Port": 1})
    assert answer.status_code == 403, answer.text
    assert name not in {s["Service"] for s in _client().agent.services().values()}
    assert _client().catalog.service(name)[1] == []


def test_unknown_service_deregistration_is_404_and_changes_nothing():
    before = _client().agent.services()
    answer = requests.put(
        f"{BASE_URL}/v1/agent/service/deregister/no-such-{uuid.uuid4().hex[:8]}",
        headers={"X-Consul-Token": TOKEN},
    )
    assert answer.status_code == 404, answer.text
    assert _client().agent.services() == before


def test_a_local_services_health_is_in_the_status_code():
    c = _client()
    name = f"dev-health-{uuid.uuid4().hex[:8]}"
    sid = f"{name}-1"
    headers = {"X-Consul-Token": TOKEN}
    by_id = f"{BASE_URL}/v1/agent/health/service/id/{sid}"
    assert c.agent.service.register(name, service_id=sid, port=9091, check=consul.Check.ttl("30s"))
    try:
        # A TTL check starts critical: 503, with the instance and its check.
        answer = requests.get(by_id, headers=headers)
        assert answer.status_code == 503, answer.text
        assert answer.json()["AggregatedStatus"] == "critical"
        assert answer.json()["Service"]["ID"] == sid
        assert [check["CheckID"] for check in answer.json()["Checks"]] == [f"service:{sid}"]
        assert c.agent.check.ttl_warn(f"service:{sid}") is True
        answer = requests.get(by_id, params={"format": "text"}, headers=headers)
        assert (answer.status_code, answer.text) == (429, "warning")
        assert c.agent.check.ttl_pass(f"service:{sid}") is True
        answer = requests.get(f"{BASE_URL}/v1/agent/health/service/name/{name}", headers=headers)
        assert answer.status_code == 200
        assert [entry["AggregatedStatus"] for entry in answer.json()] == ["passing"]
        # Unknown: 404 (as text too); without a token the catalog hides the checks: 403.
        missing = requests.get(f"{BASE_URL}/v1/agent/health/service/id/{sid}-x", headers=headers)
        assert missing.status_code == 404 and missing.json()["AggregatedStatus"] == "critical"
        none = requests.get(
            f"{BASE_URL}/v1/agent/health/service/name/{name}-x", headers={**headers, "Accept": "text/plain"}
        )
        assert (none.status_code, none.text) == (404, f"ServiceName {name}-x Not Found")
        assert requests.get(by_id).status_code == 403
    finally:
        c.agent.service.deregister(sid)


def test_maintenance_takes_a_service_and_the_node_out_and_back():
    c = _client()
    node = c.agent.self()["Config"]["NodeName"]
    name = f"dev-maint-{uuid.uuid4().hex[:8]}"
    sid = f"{name}-1"
    assert c.agent.service.register(name, service_id=sid, port=9092)
    try:
        assert c.agent.service.maintenance(sid, "true", "upgrading") is True
        _, entries = c.health.service(name)
        checks = {check["CheckID"]: check for check in entries[0]["Checks"]}
        maintenance = checks[f"_service_maintenance:{sid}"]
        assert (maintenance["Status"], maintenance["Notes"]) == ("critical", "upgrading")
        assert c.health.service(name, passing=True)[1] == []
        assert c.agent.service.maintenance(sid, "false") is True
        assert [entry["Service"]["ID"] for entry in c.health.service(name, passing=True)[1]] == [sid]
        # Bad input changes nothing; an unknown service is a 404.
        headers = {"X-Consul-Token": TOKEN}
        bad = requests.put(f"{BASE_URL}/v1/agent/service/maintenance/{sid}?enable=maybe", headers=headers)
        assert (bad.status_code, bad.text) == (400, 'Invalid value for enable: "maybe"')
        missing = requests.put(f"{BASE_URL}/v1/agent/service/maintenance/{sid}-x?enable=true", headers=headers)
        assert missing.status_code == 404
        # Without a token the catalog refuses the maintenance check (service:write).
        anonymous = requests.put(f"{BASE_URL}/v1/agent/service/maintenance/{sid}?enable=true")
        assert anonymous.status_code == 403, anonymous.text
        assert [entry["Service"]["ID"] for entry in c.health.service(name, passing=True)[1]] == [sid]
        # The dev node: its own check, with Consul's default reason.
        assert c.agent.maintenance("true") is True
        _, node_checks = c.health.node(node)
        ours = [check for check in node_checks if check["CheckID"] == "_node_maintenance"]
        assert [check["Status"] for check in ours] == ["critical"]
        assert ours[0]["Notes"].startswith("Maintenance mode is enabled for this node")
        assert c.agent.maintenance("false") is True
        assert not [check for check in c.health.node(node)[1] if check["CheckID"] == "_node_maintenance"]
    finally:
        c.agent.maintenance("false")
        c.agent.service.deregister(sid)
