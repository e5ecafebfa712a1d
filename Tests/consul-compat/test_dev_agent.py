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

from test_py_consul import BASE_URL, HOST, PORT, TOKEN, uniq

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


def test_connect_authorize_follows_intentions_and_identity():
    target, allowed_source, denied_source = uniq("authz-db"), uniq("authz-api"), uniq("authz-web")
    headers = {"X-Consul-Token": TOKEN}
    for source, action in [(allowed_source, "allow"), (denied_source, "deny")]:
        answer = requests.put(
            f"{BASE_URL}/v1/connect/intentions/exact?source={source}&destination={target}",
            json={"Action": action},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    trust_domain = requests.get(f"{BASE_URL}/v1/connect/ca/roots", timeout=10).json()["TrustDomain"]

    def authorize(uri: str, token: str | None = TOKEN) -> requests.Response:
        return requests.post(
            f"{BASE_URL}/v1/agent/connect/authorize",
            json={"Target": target, "ClientCertURI": uri},
            headers={"X-Consul-Token": token} if token else {},
            timeout=10,
        )

    spiffe = lambda service, domain=trust_domain: f"spiffe://{domain}/ns/default/dc/dc1/svc/{service}"  # noqa: E731
    assert authorize(spiffe(allowed_source)).json()["Authorized"] is True
    denied = authorize(spiffe(denied_source)).json()
    assert denied["Authorized"] is False and "Denied" in denied["Reason"]
    foreign = authorize(spiffe(allowed_source, "11111111-2222-3333-4444-555555555555.consul")).json()
    assert foreign == {"Authorized": False, "Reason": "Identity from an external trust domain"}
    assert authorize("https://example.com/not-spiffe").json()["Authorized"] is False
    # The caller needs service:write on the target; anonymous has nothing.
    assert authorize(spiffe(allowed_source), token=None).status_code == 403
    missing = requests.post(f"{BASE_URL}/v1/agent/connect/authorize", json={"Target": target}, headers=headers, timeout=10)
    assert missing.status_code == 400 and missing.text == "ClientCertURI must be specified"


def test_internal_acl_authorize_answers_for_the_callers_token():
    admin = _client()
    service = uniq("authz-svc")
    token = admin.acl.token.create(service_identities=[{"ServiceName": service}])["SecretID"]
    checks = [
        {"Resource": "service", "Segment": service, "Access": "write"},
        {"Resource": "service", "Segment": "someone-else", "Access": "write"},
        {"Resource": "key", "Segment": "app/config", "Access": "list"},
        {"Resource": "operator", "Access": "read"},
    ]

    def ask(secret: str | None, body=checks) -> requests.Response:
        headers = {"X-Consul-Token": secret} if secret else {}
        return requests.post(f"{BASE_URL}/v1/internal/acl/authorize", json=body, headers=headers, timeout=10)

    assert [a["Allow"] for a in ask(token).json()] == [True, False, False, False]
    assert [a["Allow"] for a in ask(TOKEN).json()] == [True, True, True, True]
    assert [a["Allow"] for a in ask(None).json()] == [False, False, False, False]
    assert ask(TOKEN, [{"Resource": "nonsense", "Access": "read"}]).status_code == 400
    assert ask(TOKEN, [{"Resource": "service", "Segment": "x", "Access": "list"}]).status_code == 400
    assert ask(TOKEN, checks * 17).status_code == 413


def test_connect_sidecar_service_shorthand_registers_the_proxy():
    c = _client()
    first, second = uniq("sc-web"), uniq("sc-api")
    headers = {"X-Consul-Token": TOKEN}
    for name, port in [(first, 8080), (second, 9090)]:
        body = {"Name": name, "Port": port, "Tags": ["v1"], "Connect": {"SidecarService": {}}}
        answer = requests.put(f"{BASE_URL}/v1/agent/service/register", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
    try:
        services = c.agent.services()
        proxy = services[f"{first}-sidecar-proxy"]
        assert proxy["Kind"] == "connect-proxy"
        assert proxy["Service"] == f"{first}-sidecar-proxy"
        assert proxy["Tags"] == ["v1"]
        assert 21000 <= proxy["Port"] <= 21255
        assert proxy["Proxy"]["DestinationServiceName"] == first
        assert proxy["Proxy"]["DestinationServiceID"] == first
        assert proxy["Proxy"]["LocalServicePort"] == 8080
        # Each sidecar gets its own port.
        assert services[f"{second}-sidecar-proxy"]["Port"] != proxy["Port"]
        # The mesh sees it as the service's proxy; its default check probes its port.
        connect = requests.get(f"{BASE_URL}/v1/health/connect/{first}", headers=headers, timeout=10).json()
        assert [e["Service"]["ID"] for e in connect] == [f"{first}-sidecar-proxy"]
        assert [ch["Name"] for ch in connect[0]["Checks"] if ch["ServiceID"]] == ["Connect Sidecar Listening"]
        nested = {"Name": uniq("sc-bad"), "Connect": {"SidecarService": {"Connect": {"SidecarService": {}}}}}
        refused = requests.put(f"{BASE_URL}/v1/agent/service/register", json=nested, headers=headers, timeout=10)
        assert refused.status_code == 400 and "nested SidecarService" in refused.text
    finally:
        for name in (first, second):
            c.agent.service.deregister(name)
    # Deregistering the service took its sidecar with it.
    remaining = c.agent.services()
    assert f"{first}-sidecar-proxy" not in remaining and f"{second}-sidecar-proxy" not in remaining

