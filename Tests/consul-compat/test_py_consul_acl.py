"""py-consul against the ACL system and intentions of `meshctl dev` (ACLs on, default deny).

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev cluster's initial management token).
"""

import os
import threading
import time
import uuid

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, TOKEN

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN (ACLs on)")


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin():
    return consul.Consul(host=HOST, port=PORT, token=TOKEN)


@pytest.fixture
def anonymous():
    return consul.Consul(host=HOST, port=PORT, token=None)


def test_bootstrap_is_used_up(admin):
    with pytest.raises(consul.ACLPermissionDenied):
        admin.acl.bootstrap()


def test_token_self_is_the_management_token(admin):
    me = admin.acl.token.read_self()
    assert me["SecretID"] == TOKEN
    assert any(p["Name"] == "global-management" for p in me["Policies"])


def test_policy_and_token_lifecycle(admin):
    name = uniq("web-read")
    # py-consul sends rules through json.dumps: a dict becomes HCL-compatible JSON.
    policy = admin.acl.policy.create(name, rules={"service": {"web": {"policy": "read"}}})
    assert policy["Name"] == name
    assert any(p["ID"] == policy["ID"] for p in admin.acl.policy.list())

    token = admin.acl.token.create(description="py-consul", policies_name=[name])
    assert token["SecretID"] and token["SecretID"] != "<hidden>"
    read = admin.acl.token.read(token["AccessorID"])
    assert read["Policies"][0]["Name"] == name
    assert any(t["AccessorID"] == token["AccessorID"] for t in admin.acl.token.list())

    user = consul.Consul(host=HOST, port=PORT, token=token["SecretID"])
    with pytest.raises(consul.ACLPermissionDenied):
        user.acl.token.list()

    assert admin.acl.token.delete(token["AccessorID"]) is True
    with pytest.raises(consul.ConsulException):
        admin.acl.token.read(token["AccessorID"])
    assert admin.acl.policy.delete(policy["ID"]) is True


def test_bad_rules_are_a_400_with_the_position(admin):
    r = requests.put(
        BASE_URL + "/v1/acl/policy",
        json={"Name": uniq("bad"), "Rules": 'service "web" {\n  policy = "reed"\n}'},
        headers={"X-Consul-Token": TOKEN},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert "line 2" in r.text


def test_anonymous_reads_are_filtered_and_writes_refused(admin, anonymous):
    node = uniq("acl-node")
    assert admin.catalog.register(node, "10.9.0.1", service={"Service": uniq("svc"), "Port": 80})
    _, services = anonymous.catalog.services()
    assert services == {}
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.catalog.register(uniq("n"), "10.9.0.2")
    assert admin.catalog.deregister(node)


def test_service_identity_token_registers_only_its_service(admin):
    svc = uniq("api")
    node = uniq("acl-node")
    assert admin.catalog.register(node, "10.9.0.3")
    token = admin.acl.token.create(service_identities=[{"ServiceName": svc}])
    user = consul.Consul(host=HOST, port=PORT, token=token["SecretID"])
    assert user.catalog.register(node, "10.9.0.3", service={"Service": svc, "Port": 80})
    with pytest.raises(consul.ACLPermissionDenied):
        user.catalog.register(node, "10.9.0.3", service={"Service": uniq("other"), "Port": 81})
    assert admin.catalog.deregister(node)
    assert admin.acl.token.delete(token["AccessorID"])


def test_intentions_upsert_check_delete(admin):
    src, dst = uniq("web"), uniq("db")
    assert admin.connect.intentions.upsert(src, dst, action="deny") is True
    assert admin.connect.intentions.check(src, dst) is False
    read = admin.connect.intentions.read(src, dst)
    assert read["Action"] == "deny" and read["Precedence"] == 9
    assert admin.connect.intentions.upsert("*", dst, action="allow") is True
    assert admin.connect.intentions.check(uniq("api"), dst) is True
    assert admin.connect.intentions.check(src, dst) is False
    matched = admin.connect.intentions.match("destination", dst)
    assert [i["SourceName"] for i in matched[dst]] == [src, "*"]
    assert admin.connect.intentions.delete(src, dst) is True
    assert admin.connect.intentions.read(src, dst) is None
    assert admin.connect.intentions.check(src, dst) is True
    assert admin.connect.intentions.delete("*", dst) is True
    # No intention left: the default policy (deny) answers.
    assert admin.connect.intentions.check(src, dst) is False


def test_the_intentions_list_is_a_blocking_query(admin):
    """Before, the list answered at once whatever ?index= said: a UI following it spun."""
    headers = {"X-Consul-Token": TOKEN}
    first = requests.get(f"{BASE_URL}/v1/connect/intentions", headers=headers, timeout=10)
    index = first.headers["X-Consul-Index"]
    started = time.monotonic()
    quiet = requests.get(f"{BASE_URL}/v1/connect/intentions?index={index}&wait=1s", headers=headers, timeout=10)
    assert time.monotonic() - started >= 0.9 and quiet.headers["X-Consul-Index"] == index
    src, dst = uniq("blk-src"), uniq("blk-dst")
    seen: list = []

    def follow() -> None:
        # A client of blocking queries loops: a wake may come from another change first.
        current, deadline = index, time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = requests.get(
                f"{BASE_URL}/v1/connect/intentions?index={current}&wait=30s", headers=headers, timeout=40
            )
            current = answer.headers["X-Consul-Index"]
            if any(i["SourceName"] == src and i["DestinationName"] == dst for i in answer.json()):
                seen.append(int(current))
                return

    reader = threading.Thread(target=follow)
    reader.start()
    assert admin.connect.intentions.upsert(src, dst, action="deny") is True
    reader.join(timeout=40)
    assert seen and seen[0] > int(index)
    assert admin.connect.intentions.delete(src, dst) is True


def test_ca_roots_and_configuration(admin, anonymous):
    roots = anonymous.connect.ca.roots()
    assert roots["TrustDomain"].endswith(".consul")
    active = [r for r in roots["Roots"] if r["Active"]]
    assert len(active) == 1 and active[0]["ID"] == roots["ActiveRootID"]
    assert active[0]["RootCert"].startswith("-----BEGIN CERTIFICATE-----")
    assert isinstance(active[0]["SerialNumber"], int)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.connect.ca.configuration()
    config = admin.connect.ca.configuration()
    assert config["Provider"] == "consul"
    assert admin.connect.ca.update_configuration("consul", {"LeafCertTTL": "72h"}) is True
    assert admin.connect.ca.configuration()["Config"]["LeafCertTTL"] == "72h"
