"""`?filter=` (Consul's go-bexpr language) and `?node-meta=` on the catalog, health and agent
listings, and the read endpoints clients expect: `/v1/catalog/datacenters`,
`/v1/catalog/connect/:service`, `/v1/health/connect/:service`, `/v1/catalog/node-services/:node`.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev server's management token).
"""

from __future__ import annotations

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")


def _client() -> consul.Consul:
    return consul.Consul(host=HOST, port=PORT, token=TOKEN)


@pytest.fixture(scope="module")
def mesh():
    """Two nodes (racks r1 and r2), a service on each, a sidecar proxy for one and a
    Connect-native instance."""
    c = _client()
    service = uniq("flt")
    nodes = [uniq("flt-node"), uniq("flt-node")]
    for position, node in enumerate(nodes):
        # py-consul's `node_meta` goes into the query string, which /v1/catalog/register does
        # not read (nor does Consul): the metadata goes in the body.
        registration = {
            "Node": node,
            "Address": f"10.9.0.{position + 1}",
            "NodeMeta": {"rack": f"r{position + 1}"},
            "Service": {"Service": service, "ID": f"{service}-{position}", "Port": 8080 + position,
                        "Tags": ["v1" if position == 0 else "v2"], "Meta": {"version": str(position)}},
            "Check": {"CheckID": f"{service}-{position}-ttl", "Name": "ttl", "ServiceID": f"{service}-{position}",
                      "Status": "passing" if position == 0 else "critical"},
        }
        answer = requests.put(f"{BASE_URL}/v1/catalog/register", json=registration, headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 200, answer.text
    proxy = {"Kind": "connect-proxy", "Service": f"{service}-sidecar-proxy", "ID": f"{service}-0-sidecar",
             "Port": 21000, "Proxy": {"DestinationServiceName": service, "DestinationServiceID": f"{service}-0"}}
    # Registering again without the node's metadata would replace it: keep the node as it is.
    assert c.catalog.register(nodes[0], "10.9.0.1", service=proxy, skip_node_update=True)
    native = {"Service": service, "ID": f"{service}-native", "Port": 9443, "Connect": {"Native": True}}
    assert c.catalog.register(nodes[1], "10.9.0.2", service=native, skip_node_update=True)
    yield service, nodes
    for node in nodes:
        c.catalog.deregister(node)


def _get(path: str, **params) -> requests.Response:
    return requests.get(f"{BASE_URL}{path}", params=params, headers=RAW_HEADERS, timeout=10)


def test_filter_on_health_and_catalog_listings(mesh):
    service, nodes = mesh
    ids = lambda entries: sorted(e["Service"]["ID"] for e in entries)  # noqa: E731
    both = _get(f"/v1/health/service/{service}").json()
    assert ids(both) == [f"{service}-0", f"{service}-1", f"{service}-native"]
    assert ids(_get(f"/v1/health/service/{service}", filter='Service.Tags contains "v1"').json()) == [f"{service}-0"]
    assert ids(_get(f"/v1/health/service/{service}", filter="Checks.Status == critical").json()) == [f"{service}-1"]
    assert ids(_get(f"/v1/health/service/{service}", filter='Node.Meta.rack == "r2"').json()) == [
        f"{service}-1",
        f"{service}-native",
    ]
    index, entries = _client().health.service(service, node_meta={"rack": "r1"})
    assert ids(entries) == [f"{service}-0"]
    catalog = _get(f"/v1/catalog/service/{service}", filter='ServiceMeta.version == "1"').json()
    assert [e["ServiceID"] for e in catalog] == [f"{service}-1"]
    assert [n["Node"] for n in _get("/v1/catalog/nodes", filter=f'Node == "{nodes[1]}"').json()] == [nodes[1]]
    assert [n["Node"] for n in _get("/v1/catalog/nodes", **{"node-meta": "rack:r2"}).json() if n["Node"] in nodes] == [
        nodes[1]
    ]
    services = _get("/v1/catalog/services", filter=f'ServiceName == "{service}"').json()
    assert list(services) == [service]
    checks = _get(f"/v1/health/checks/{service}", filter="Status == critical").json()
    assert [c["CheckID"] for c in checks] == [f"{service}-1-ttl"]


def test_a_bad_filter_is_400():
    for expression in ["Service.Tags contains", "(Service.Port == 1", 'Node matches "("', "== x"]:
        answer = _get("/v1/catalog/nodes", filter=expression)
        assert answer.status_code == 400, expression
        assert answer.text.startswith("Failed to create boolean expression evaluator: "), answer.text


def test_a_selector_the_endpoint_does_not_have_is_400():
    """go-bexpr checks selectors against the endpoint's type: a misspelt field is an error
    naming it, not an empty answer that looks like "nothing matched"."""
    for path, good, bad in [
        ("/v1/catalog/nodes", "Meta.rack == r1", "Metadata.rack == r1"),
        ("/v1/catalog/service/web", "ServiceMeta.x == y", "Service.Meta.x == y"),
        ("/v1/health/service/web", "Service.Meta.x == y and Checks.Status == passing", "Checks.Stat == passing"),
        ("/v1/health/state/any", "ServiceName == web", "Service == web"),
        ("/v1/catalog/services", "ServiceTags contains v1", "Tags contains v1"),
        ("/v1/catalog/node-services/n1", "Service == web", "ServiceName == web"),
        ("/v1/agent/services", "Service == web", "ServiceName == web"),
        ("/v1/agent/checks", "Status == passing", "State == passing"),
    ]:
        assert _get(path, filter=good).status_code in (200, 404), (path, good)
        answer = _get(path, filter=bad)
        selector = bad.split(" ")[0]
        assert (answer.status_code, answer.text) == (
            400,
            f'Failed to create boolean expression evaluator: Selector "{selector}" is not valid',
        ), (path, bad)


def test_connect_endpoints_list_proxies_and_native_instances(mesh):
    service, nodes = mesh
    catalog = _get(f"/v1/catalog/connect/{service}").json()
    assert sorted(e["ServiceID"] for e in catalog) == [f"{service}-0-sidecar", f"{service}-native"]
    health = _get(f"/v1/health/connect/{service}").json()
    assert sorted(e["Service"]["ID"] for e in health) == [f"{service}-0-sidecar", f"{service}-native"]
    proxy = next(e for e in health if e["Service"]["ID"] == f"{service}-0-sidecar")
    assert proxy["Node"]["Node"] == nodes[0]
    assert _get(f"/v1/health/connect/{uniq('nothing')}").json() == []
    # py-consul's health.connect reads the same endpoint.
    _, entries = _client().health.connect(service)
    assert len(entries) == 2


def test_node_services_and_datacenters(mesh):
    service, nodes = mesh
    answer = _get(f"/v1/catalog/node-services/{nodes[0]}").json()
    assert answer["Node"]["Node"] == nodes[0]
    assert sorted(s["ID"] for s in answer["Services"]) == [f"{service}-0", f"{service}-0-sidecar"]
    filtered = _get(f"/v1/catalog/node-services/{nodes[0]}", filter='Kind == "connect-proxy"').json()
    assert [s["ID"] for s in filtered["Services"]] == [f"{service}-0-sidecar"]
    assert _get(f"/v1/catalog/node-services/{uniq('nowhere')}").json() == {"Node": None, "Services": []}
    assert _client().catalog.datacenters() == ["dc1"]


def test_agent_listings_filter(mesh):
    c = _client()
    name = uniq("flt-agent")
    assert c.agent.service.register(name, service_id=name, port=7000, tags=["blue"])
    try:
        listed = _get("/v1/agent/services", filter='Tags contains "blue"').json()
        assert list(listed) == [name]
        assert _get("/v1/agent/services", filter='Tags contains "green"').json() == {}
    finally:
        c.agent.service.deregister(name)
