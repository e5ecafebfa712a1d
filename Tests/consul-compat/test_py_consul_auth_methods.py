"""py-consul against iam-auth-svc through `meshctl dev`: auth methods, binding rules, login and logout.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev cluster's initial management token). Logins
that succeed need AWS (moto); they are covered by the Swift suites. Here: the API shapes
py-consul reads, and the refusals it must raise on.
"""

import uuid

import consul
import pytest

from test_py_consul import HOST, PORT, TOKEN

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN (ACLs on)")

CONFIG = {
    "BoundIAMPrincipalARNs": ["arn:aws:iam::123456789012:role/consul-ecs/*"],
    "EnableIAMEntityDetails": True,
    "IAMEntityTags": ["consul.hashicorp.com.service-name"],
}


@pytest.fixture
def admin():
    return consul.Consul(host=HOST, port=PORT, token=TOKEN)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_auth_method_lifecycle(admin):
    name = uniq("ecs")
    created = admin.acl.auth_method.create(
        name=name, method_type="aws-iam", description="tasks", config=CONFIG, max_token_ttl="10m"
    )
    assert created["Name"] == name
    assert created["Type"] == "aws-iam"
    assert created["MaxTokenTTL"] == "10m0s"
    read = admin.acl.auth_method.read(name)
    assert read["Config"]["BoundIAMPrincipalARNs"] == CONFIG["BoundIAMPrincipalARNs"]
    listed = [m for m in admin.acl.auth_method.list() if m["Name"] == name]
    assert len(listed) == 1 and "Config" not in listed[0]
    updated = admin.acl.auth_method.update(name=name, method_type="aws-iam", description="updated", config=CONFIG)
    assert updated["Description"] == "updated"
    assert admin.acl.auth_method.delete(name) is True
    assert admin.acl.auth_method.read(name) is None


def test_binding_rule_lifecycle(admin):
    method = uniq("ecs")
    admin.acl.auth_method.create(name=method, method_type="aws-iam", config=CONFIG)
    rule = admin.acl.binding_rule.create(
        auth_method=method,
        bind_type="service",
        bind_name="${entity_tags.consul.hashicorp.com.service-name}",
        description="service from the role's tag",
        selector='entity_path == "/consul-ecs/"',
    )
    assert rule["AuthMethod"] == method
    assert admin.acl.binding_rule.read(rule["ID"])["BindName"] == "${entity_tags.consul.hashicorp.com.service-name}"
    assert any(r["ID"] == rule["ID"] for r in admin.acl.binding_rule.list(auth_method=method))
    updated = admin.acl.binding_rule.update(
        rule["ID"], auth_method=method, bind_type="service", bind_name="web", description="updated"
    )
    assert updated["Description"] == "updated" and updated["BindName"] == "web"
    assert admin.acl.binding_rule.delete(rule["ID"]) is True
    assert admin.acl.binding_rule.read(rule["ID"]) is None
    admin.acl.auth_method.delete(method)


def test_bad_input_raises_and_changes_nothing(admin):
    name = uniq("ecs")
    with pytest.raises(consul.ConsulException):
        admin.acl.auth_method.create(name=name, method_type="ldap", config=CONFIG)
    with pytest.raises(consul.ConsulException):
        admin.acl.auth_method.create(name=name, method_type="aws-iam", config={"BoundIAMPrincipalARNs": []})
    assert admin.acl.auth_method.read(name) is None
    with pytest.raises(consul.ConsulException):
        admin.acl.binding_rule.create(auth_method=name, bind_type="service", bind_name="web")


def test_anonymous_cannot_manage_auth_methods():
    anonymous = consul.Consul(host=HOST, port=PORT, token=None)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.acl.auth_method.create(name=uniq("ecs"), method_type="aws-iam", config=CONFIG)


def test_login_with_unknown_method_and_logout_of_unknown_token_raise(admin):
    with pytest.raises(consul.ConsulException):
        admin.acl.login(auth_method="does-not-exist", bearer_token="fake-token")
    with pytest.raises(consul.ConsulException):
        admin.acl.logout(token="00000000-0000-0000-0000-0000000000ff")


def test_login_with_a_forged_bearer_token_is_refused(admin):
    method = uniq("ecs")
    admin.acl.auth_method.create(name=method, method_type="aws-iam", config=CONFIG)
    admin.acl.binding_rule.create(auth_method=method, bind_type="service", bind_name="web")
    forged = '{"iam_http_request_method":"POST","iam_request_url":"aHR0cHM6Ly9ldmlsLmV4YW1wbGUv",' \
        '"iam_request_headers":"e30=","iam_request_body":"QWN0aW9uPUdldENhbGxlcklkZW50aXR5"}'
    with pytest.raises(consul.ACLPermissionDenied):
        admin.acl.login(auth_method=method, bearer_token=forged)
    assert not [t for t in admin.acl.token.list() if t.get("AuthMethod") == method]
    admin.acl.auth_method.delete(method)
