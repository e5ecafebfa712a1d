"""py-consul's config entry API (`consul.config`) against `meshctl dev`: service-defaults and
proxy-defaults, check-and-set, and the refusals py-consul must raise on.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev cluster's initial management token).
"""

import uuid

import consul
import pytest

from test_py_consul import HOST, PORT, TOKEN

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN (ACLs on)")


@pytest.fixture
def admin():
    return consul.Consul(host=HOST, port=PORT, token=TOKEN)


def test_service_defaults_lifecycle(admin):
    name = f"svc-{uuid.uuid4().hex[:10]}"
    assert admin.config.set("service-defaults", name, {"Protocol": "http"}) is True
    entry = admin.config.get("service-defaults", name)
    assert entry["Protocol"] == "http" and entry["Name"] == name and entry["Kind"] == "service-defaults"
    assert any(e["Name"] == name for e in admin.config.list("service-defaults"))
    # Check-and-set: a stale index is refused without an error; the current one applies.
    assert admin.config.set("service-defaults", name, {"Protocol": "grpc"}, cas=0) is False
    assert admin.config.set("service-defaults", name, {"Protocol": "grpc"}, cas=entry["ModifyIndex"]) is True
    assert admin.config.get("service-defaults", name)["Protocol"] == "grpc"
    assert admin.config.delete("service-defaults", name) is True
    assert admin.config.get("service-defaults", name) is None


def test_proxy_defaults_is_global(admin):
    assert admin.config.set("proxy-defaults", "global", {"Config": {"protocol": "http"}}) is True
    assert admin.config.get("proxy-defaults", "global")["Config"] == {"protocol": "http"}
    with pytest.raises(consul.ConsulException):
        admin.config.set("proxy-defaults", "other", {})
    assert admin.config.delete("proxy-defaults", "global") is True


def test_bad_entries_raise(admin):
    with pytest.raises(consul.ConsulException):
        admin.config.set("service-defaults", "web", {"Protocol": "udp"})
    with pytest.raises(consul.ConsulException):
        admin.config.list("not-a-kind")


def test_anonymous_cannot_write():
    anonymous = consul.Consul(host=HOST, port=PORT, token=None)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.config.set("service-defaults", "web", {"Protocol": "http"})


def test_mesh_entry_lifecycle_and_validation(admin):
    body = {
        "HTTP": {
            "Incoming": {
                "RequestNormalization": {
                    "MergeSlashes": True,
                    "PathWithEscapedSlashesAction": "REJECT_REQUEST",
                    "HeadersWithUnderscoresAction": "DROP_HEADER",
                }
            }
        }
    }
    try:
        assert admin.config.set("mesh", "mesh", body) is True
        entry = admin.config.get("mesh", "mesh")
        assert entry["Kind"] == "mesh"
        assert "Name" not in entry
        assert entry["HTTP"] == body["HTTP"]
        # Readable without a token, as Consul's mesh entry.
        assert consul.Consul(host=HOST, port=PORT, token=None).config.get("mesh", "mesh")["HTTP"] == body["HTTP"]
        bad = {"HTTP": {"Incoming": {"RequestNormalization": {"PathWithEscapedSlashesAction": "NOPE"}}}}
        with pytest.raises(consul.ConsulException, match="no matching PathWithEscapedSlashesAction value found for NOPE"):
            admin.config.set("mesh", "mesh", bad)
        with pytest.raises(consul.ConsulException, match="only \"mesh\" is supported"):
            admin.config.set("mesh", "other", {})
        with pytest.raises(consul.ConsulException, match="TLS 1.3"):
            admin.config.set("mesh", "mesh", {"TLS": {"Incoming": {"TLSMaxVersion": "TLSv1_2"}}})
        # Writing needs mesh:write: a service identity does not carry it, and nothing changes.
        narrow = admin.acl.token.create(service_identities=[{"ServiceName": "web"}])
        with pytest.raises(consul.ACLPermissionDenied):
            consul.Consul(host=HOST, port=PORT, token=narrow["SecretID"]).config.set("mesh", "mesh", {})
        assert admin.config.get("mesh", "mesh")["HTTP"] == body["HTTP"]
        admin.acl.token.delete(narrow["AccessorID"])
    finally:
        admin.config.delete("mesh", "mesh")
    assert admin.config.get("mesh", "mesh") is None
