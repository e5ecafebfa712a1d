"""Adversarial cases against `meshctl dev` (ACLs on, default deny): each tries an attack as a
client would, with only a narrow token or none, and asserts the refusal and that nothing
changed. One case (or more) per finding of the hardening issue; see docs/SECURITY.md.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev cluster's initial management token).
"""

from __future__ import annotations

import uuid

import pytest
import requests

from test_py_consul import BASE_URL, TOKEN

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN (ACLs on)")


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def call(method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"X-Consul-Token": token} if token else {}
    return requests.request(method, BASE_URL + path, headers=headers, timeout=30, **kwargs)


def admin(method: str, path: str, **kwargs) -> requests.Response:
    response = call(method, path, TOKEN, **kwargs)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response


def service_token(*services: str) -> str:
    """A token with only the service identities of `services` (as a task's login gives)."""
    body = {"ServiceIdentities": [{"ServiceName": name} for name in services]}
    return admin("PUT", "/v1/acl/token", json=body).json()["SecretID"]


def node_state(node: str) -> dict:
    """Everything the catalog holds of a node: its entry, instances and checks."""
    entry = admin("GET", f"/v1/catalog/node/{node}").json()
    checks = admin("GET", f"/v1/health/node/{node}").json()
    return {"node": entry, "checks": sorted(checks, key=lambda c: c["CheckID"])}


@pytest.fixture
def cluster_node():
    """An ECS-style cluster node holding an instance `db-…` of a service `db-…` with a check,
    and a node check; its name, the db service's name and instance ID."""
    node = uniq("cluster")
    db = uniq("db")
    instance = f"{db}-1"
    admin(
        "PUT",
        "/v1/catalog/register",
        json={
            "Node": node,
            "Address": "10.20.0.1",
            "NodeMeta": {"role": "cluster"},
            "Service": {"Service": db, "ID": instance, "Port": 5432},
            "Checks": [
                {"CheckID": f"{instance}-check", "Name": "db alive", "ServiceID": instance, "Status": "passing"},
                {"CheckID": f"{node}-health", "Name": "node alive", "Status": "passing"},
            ],
        },
    )
    yield node, db, instance
    call("PUT", "/v1/catalog/deregister", TOKEN, json={"Node": node})


def test_instance_takeover_across_services_is_refused(cluster_node):
    node, db, instance = cluster_node
    evil = uniq("evil")
    token = service_token(evil)
    before = node_state(node)
    for body in (
        {"Node": node, "Address": "10.20.0.1", "NodeMeta": {"role": "cluster"}, "Service": {"Service": evil, "ID": instance}},
        {"Node": node, "SkipNodeUpdate": True, "Service": {"Service": evil, "ID": instance}},
        {
            "Node": node,
            "SkipNodeUpdate": True,
            "Service": {"Service": evil, "ID": instance, "Kind": "connect-proxy", "Proxy": {"DestinationServiceName": evil}},
        },
    ):
        answer = call("PUT", "/v1/catalog/register", token, json=body)
        assert answer.status_code == 403, answer.text
        assert f"lacks permission 'service:write' on \"{db}\"" in answer.text
    assert node_state(node) == before
    assert [s["ServiceID"] for s in admin("GET", f"/v1/catalog/service/{db}").json()] == [instance]
    # Its own instance on the same node is fine (the ECS form), and still changes nothing of db's.
    own = call("PUT", "/v1/catalog/register", token, json={"Node": node, "SkipNodeUpdate": True, "Service": {"Service": evil, "ID": f"{evil}-1"}})
    assert own.status_code == 200, own.text
    assert [s["ServiceID"] for s in admin("GET", f"/v1/catalog/service/{db}").json()] == [instance]


def test_check_takeover_is_refused(cluster_node):
    node, db, instance = cluster_node
    evil = uniq("evil")
    token = service_token(evil)
    own = {"Node": node, "SkipNodeUpdate": True, "Service": {"Service": evil, "ID": f"{evil}-1"}}
    assert call("PUT", "/v1/catalog/register", token, json=own).status_code == 200
    before = node_state(node)
    # Moving db's check, or the node's check, onto its own instance: the check IDs belong to others.
    for check_id, owner in ((f"{instance}-check", f'service:write\' on "{db}"'), (f"{node}-health", "node:write")):
        body = own | {"Check": {"CheckID": check_id, "Name": "mine now", "ServiceID": f"{evil}-1", "Status": "critical"}}
        answer = call("PUT", "/v1/catalog/register", token, json=body)
        assert answer.status_code == 403, answer.text
        assert owner in answer.text
    assert node_state(node) == before
    # Its own check on its own instance is fine.
    body = own | {"Check": {"CheckID": f"{evil}-1-check", "Name": "mine", "ServiceID": f"{evil}-1", "Status": "passing"}}
    assert call("PUT", "/v1/catalog/register", token, json=body).status_code == 200


def test_node_fields_need_node_write(cluster_node):
    node, _, _ = cluster_node
    web = uniq("web")
    token = service_token(web)
    stored = admin("GET", f"/v1/catalog/node/{node}").json()["Node"]
    same = {"Node": node, "ID": stored["ID"], "Address": stored["Address"], "NodeMeta": stored["Meta"]}
    # Re-posting the node as it is, with one's own instance, needs no node:write (Consul's ChangesNode).
    answer = call("PUT", "/v1/catalog/register", token, json=same | {"Service": {"Service": web, "ID": f"{web}-1"}})
    assert answer.status_code == 200, answer.text
    before = node_state(node)
    for change in (
        {"ID": str(uuid.uuid4())},
        {"Address": "10.20.0.99"},
        {"Datacenter": "dc9"},
        {"TaggedAddresses": {"wan": "1.2.3.4"}},
        {"NodeMeta": {"role": "mine"}},
    ):
        answer = call("PUT", "/v1/catalog/register", token, json=same | change | {"Service": {"Service": web, "ID": f"{web}-1"}})
        assert answer.status_code == 403, f"{change}: {answer.text}"
        assert f"lacks permission 'node:write' on \"{node}\"" in answer.text
    assert node_state(node) == before


def test_health_check_listings_need_node_read(cluster_node):
    node, db, instance = cluster_node
    reader = admin(
        "PUT", "/v1/acl/policy", json={"Name": uniq("db-read"), "Rules": f'service "{db}" {{ policy = "read" }}'}
    ).json()
    token = admin("PUT", "/v1/acl/token", json={"Policies": [{"ID": reader["ID"]}]}).json()["SecretID"]
    answer = call("GET", f"/v1/health/checks/{db}", token)
    assert answer.status_code == 200
    assert answer.json() == []
    assert answer.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    # With node:read as well, the check is listed.
    both = admin(
        "PUT",
        "/v1/acl/policy",
        json={"Name": uniq("db-node-read"), "Rules": f'service "{db}" {{ policy = "read" }}\nnode "{node}" {{ policy = "read" }}'},
    ).json()
    token = admin("PUT", "/v1/acl/token", json={"Policies": [{"ID": both["ID"]}]}).json()["SecretID"]
    assert [c["CheckID"] for c in call("GET", f"/v1/health/checks/{db}", token).json()] == [f"{instance}-check"]


def test_ttl_update_of_an_unknown_check_tells_an_anonymous_caller_nothing(cluster_node):
    node, _, instance = cluster_node
    for check in (f"{instance}-check", uniq("no-such-check")):
        answer = call("PUT", f"/v1/agent/check/pass/{check}")
        assert answer.status_code == 403, f"{check}: {answer.status_code} {answer.text}"
    # The management token still hears that the check does not exist.
    answer = call("PUT", f"/v1/agent/check/pass/{uniq('no-such-check')}", TOKEN)
    assert answer.status_code == 404
    assert node_state(node)["checks"][0]["Status"] == "passing"


def test_intention_by_id_resolves_the_token_first():
    source, destination = uniq("src"), uniq("dst")
    created = admin("POST", "/v1/connect/intentions", json={"SourceName": source, "DestinationName": destination, "Action": "deny"})
    intention = created.json()["ID"]
    try:
        bogus = str(uuid.uuid4())
        for path in (f"/v1/connect/intentions/{intention}", f"/v1/connect/intentions/{uuid.uuid4()}"):
            for method in ("GET", "DELETE"):
                answer = call(method, path, bogus)
                assert answer.status_code == 403, f"{method} {path}: {answer.status_code} {answer.text}"
                assert answer.text == "ACL not found"
        assert admin("GET", f"/v1/connect/intentions/{intention}").json()["Action"] == "deny"
    finally:
        call("DELETE", f"/v1/connect/intentions/{intention}", TOKEN)


# --- Found by fuzzing the REST API (scripts/fuzz-rest.sh): each crashed a service or was a 500 ---


def test_a_cas_beyond_int64_changes_nothing_and_crashes_nothing():
    web = uniq("web")
    token = service_token(web)
    admin("PUT", "/v1/config", json={"Kind": "service-defaults", "Name": web, "Protocol": "http"})
    huge = 2**63
    for method, path, body in (
        ("DELETE", f"/v1/config/service-defaults/{web}?cas={huge}", None),
        ("PUT", f"/v1/config?cas={huge}", {"Kind": "service-defaults", "Name": web, "Protocol": "grpc"}),
    ):
        answer = call(method, path, token, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json() is False
    assert admin("GET", f"/v1/config/service-defaults/{web}").json()["Protocol"] == "http"
    admin("DELETE", f"/v1/config/service-defaults/{web}")


def test_deeply_nested_input_is_refused_not_a_crash():
    rules = "a = " + "[" * 5000
    answer = call("PUT", "/v1/acl/policy", TOKEN, json={"Name": uniq("deep"), "Rules": rules})
    assert answer.status_code == 400, answer.text
    method = uniq("aws")
    admin(
        "PUT",
        "/v1/acl/auth-method",
        json={"Name": method, "Type": "aws-iam", "Config": {"BoundIAMPrincipalARNs": ["arn:aws:iam::123456789012:role/x"]}},
    )
    try:
        for selector in ("(" * 10000 + 'entity_name == "x"' + ")" * 10000, " or ".join(['entity_name == "x"'] * 40000)):
            rule = {"AuthMethod": method, "BindType": "service", "BindName": "web", "Selector": selector}
            answer = call("PUT", "/v1/acl/binding-rule", TOKEN, json=rule)
            assert answer.status_code == 400, answer.text[:200]
    finally:
        call("DELETE", f"/v1/acl/auth-method/{method}", TOKEN)
    # Every service still answers.
    assert admin("GET", "/v1/acl/policies").status_code == 200
    assert admin("GET", "/v1/catalog/services").status_code == 200


def test_nul_in_a_body_or_a_target_is_400_and_writes_nothing():
    node = uniq("nul")
    for method, path, body in (
        ("PUT", "/v1/catalog/register", {"Node": node, "Address": "a", "NodeMeta": {"k\u0000": "v"}}),
        ("PUT", "/v1/acl/policy", {"Name": "p\u0000", "Rules": ""}),
        ("POST", "/v1/acl/login", {"AuthMethod": "a\u0000", "BearerToken": "x"}),
        ("GET", "/v1/catalog/node/a%00b", None),
        ("PUT", f"/v1/agent/check/pass/c1?node={node}&note=a%00b", None),
    ):
        answer = call(method, path, TOKEN, json=body)
        assert answer.status_code == 400, f"{method} {path}: {answer.status_code} {answer.text}"
    assert call("GET", f"/v1/catalog/node/{node}", TOKEN).json() is None


def test_wrongly_typed_bodies_are_400_not_500():
    for method, path, body in (
        ("PUT", "/v1/agent/check/update/c1", False),
        ("PUT", "/v1/agent/check/update/c1", {"Status": 1}),
        ("PUT", "/v1/connect/ca/configuration", 1),
        ("PUT", "/v1/connect/ca/configuration", {"Provider": 1}),
        ("PUT", "/v1/connect/ca/configuration", {"Config": {"LeafCertTTL": 5}}),
    ):
        answer = call(method, path, TOKEN, json=body)
        assert answer.status_code == 400, f"{method} {path} {body!r}: {answer.status_code} {answer.text}"
