"""Consul's KV store through py-consul against `meshctl dev`: reads and listings, check-and-set,
flags, `?raw`, deletes, blocking queries that wake only for their key or prefix, the value limit
and bad input (clear errors, nothing written), and ACLs (`key`/`key_prefix` rules, anonymous
refusals, listings filtered by read permission).

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev server's management token).
"""

from __future__ import annotations

import base64
import threading
import time

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")

# api/lock.go marks its keys with this; it does not fit in a double.
LOCK_FLAG_VALUE = 0x2DDCCBC058A50C18


def _client(token: str | None = TOKEN) -> consul.Consul:
    return consul.Consul(host=HOST, port=PORT, token=token)


def test_put_get_and_the_entry_shape():
    c = _client()
    key = f"{uniq('kv')}/greeting"
    assert c.kv.put(key, "hello", flags=LOCK_FLAG_VALUE) is True
    index, entry = c.kv.get(key)
    assert entry["Key"] == key
    assert entry["Value"] == b"hello"
    assert entry["Flags"] == LOCK_FLAG_VALUE
    assert entry["LockIndex"] == 0
    assert "Session" not in entry
    assert entry["CreateIndex"] == entry["ModifyIndex"] == int(index)
    # Overwriting moves ModifyIndex and keeps CreateIndex; writing the same again moves nothing.
    assert c.kv.put(key, "again") is True
    index2, entry2 = c.kv.get(key)
    assert entry2["CreateIndex"] == entry["CreateIndex"] and entry2["ModifyIndex"] > entry["ModifyIndex"]
    assert c.kv.put(key, "again") is True
    assert c.kv.get(key)[1]["ModifyIndex"] == entry2["ModifyIndex"]
    # An empty value is stored as no value (Consul's null).
    assert c.kv.put(key + "-empty", "") is True
    raw = requests.get(f"{BASE_URL}/v1/kv/{key}-empty", headers=RAW_HEADERS, timeout=10).json()
    assert raw[0]["Value"] is None or raw[0]["Value"] == ""


def test_missing_key_is_404_with_an_index():
    key = uniq("kv-missing")
    answer = requests.get(f"{BASE_URL}/v1/kv/{key}", headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 404
    assert answer.text == ""
    assert int(answer.headers["X-Consul-Index"]) >= 1
    index, entry = _client().kv.get(key)
    assert entry is None and int(index) >= 1


def test_recurse_keys_and_separator():
    c = _client()
    root = uniq("tree")
    for key in ["a", "b/c", "b/d/e", "b/d/f"]:
        assert c.kv.put(f"{root}/{key}", key)
    assert c.kv.put(f"{root}x", "sibling")
    _, entries = c.kv.get(f"{root}/", recurse=True)
    assert [e["Key"] for e in entries] == [f"{root}/{k}" for k in ["a", "b/c", "b/d/e", "b/d/f"]]
    _, keys = c.kv.get(f"{root}/", keys=True)
    assert keys == [f"{root}/{k}" for k in ["a", "b/c", "b/d/e", "b/d/f"]]
    _, folders = c.kv.get(f"{root}/", keys=True, separator="/")
    assert folders == [f"{root}/a", f"{root}/b/"]
    # A prefix is a plain string prefix: "<root>" also matches "<root>x".
    _, both = c.kv.get(root, keys=True, separator="/")
    assert both == [f"{root}/", f"{root}x"]
    # Nothing under a prefix: 404 (py-consul's None).
    assert c.kv.get(f"{root}/nothing/", recurse=True)[1] is None
    assert c.kv.get(f"{root}/nothing/", keys=True)[1] is None


def test_raw_answers_the_bytes_unsniffable():
    c = _client()
    key = uniq("raw")
    payload = "<html><script>alert(1)</script></html>"
    assert c.kv.put(key, payload)
    answer = requests.get(f"{BASE_URL}/v1/kv/{key}?raw", headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 200
    assert answer.text == payload
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "sandbox"
    binary = bytes(range(256))
    assert requests.put(f"{BASE_URL}/v1/kv/{key}-bin", data=binary, headers=RAW_HEADERS, timeout=10).json()
    assert requests.get(f"{BASE_URL}/v1/kv/{key}-bin?raw", headers=RAW_HEADERS, timeout=10).content == binary
    entry = requests.get(f"{BASE_URL}/v1/kv/{key}-bin", headers=RAW_HEADERS, timeout=10).json()[0]
    assert base64.b64decode(entry["Value"]) == binary


def test_check_and_set():
    c = _client()
    key = uniq("cas")
    assert c.kv.put(key, "first", cas=0) is True
    assert c.kv.put(key, "second", cas=0) is False
    _, entry = c.kv.get(key)
    assert entry["Value"] == b"first"
    assert c.kv.put(key, "stale", cas=entry["ModifyIndex"] + 1000) is False
    assert c.kv.put(key, "second", cas=entry["ModifyIndex"]) is True
    _, entry2 = c.kv.get(key)
    assert entry2["Value"] == b"second"
    # Delete with cas: refused at a stale index, done at the current one.
    assert c.kv.delete(key, cas=entry["ModifyIndex"]) is False
    assert c.kv.get(key)[1] is not None
    assert c.kv.delete(key, cas=entry2["ModifyIndex"]) is True
    assert c.kv.get(key)[1] is None
    # A missing key counts as deleted.
    assert c.kv.delete(key, cas=1) is True


def test_delete_and_recursive_delete():
    c = _client()
    root = uniq("del")
    for key in ["a", "b/c", "b/d"]:
        assert c.kv.put(f"{root}/{key}", key)
    assert c.kv.put(f"{root}-keep", "keep")
    assert c.kv.delete(f"{root}/a") is True
    assert c.kv.get(f"{root}/a")[1] is None
    index_before, _ = c.kv.get(f"{root}/", recurse=True)
    assert c.kv.delete(f"{root}/", recurse=True) is True
    index_after, gone = c.kv.get(f"{root}/", recurse=True)
    assert gone is None
    # The prefix's index moved on with the delete (tombstones), so a blocking reader wakes.
    assert int(index_after) > int(index_before)
    assert c.kv.get(f"{root}-keep")[1]["Value"] == b"keep"


def test_blocking_get_wakes_for_its_key_only():
    c = _client()
    key, other = uniq("block"), uniq("block-other")
    assert c.kv.put(key, "v1")
    index, _ = c.kv.get(key)
    # A write elsewhere does not wake a blocking read of this key: it returns at its wait, unchanged.
    assert c.kv.put(other, "x")
    started = time.monotonic()
    same_index, entry = c.kv.get(key, index=index, wait="1s")
    assert time.monotonic() - started >= 0.9
    assert same_index == index and entry["Value"] == b"v1"
    # A write of the key wakes it.
    result: dict = {}

    def block():
        result["answer"] = _client().kv.get(key, index=index, wait="30s")

    reader = threading.Thread(target=block)
    reader.start()
    assert c.kv.put(key, "v2")
    reader.join(timeout=30)
    assert not reader.is_alive()
    new_index, new_entry = result["answer"]
    assert int(new_index) > int(index) and new_entry["Value"] == b"v2"


def test_blocking_prefix_read_wakes_for_its_prefix_only():
    c = _client()
    root = uniq("watch")
    assert c.kv.put(f"{root}/a", "1")
    index, _ = c.kv.get(f"{root}/", recurse=True)
    assert c.kv.put(f"{root}-elsewhere/x", "1")
    same, _ = c.kv.get(f"{root}/", recurse=True, index=index, wait="1s")
    assert same == index
    result: dict = {}

    def block():
        result["answer"] = _client().kv.get(f"{root}/", recurse=True, index=index, wait="30s")

    reader = threading.Thread(target=block)
    reader.start()
    assert c.kv.delete(f"{root}/a")
    reader.join(timeout=30)
    assert not reader.is_alive()
    new_index, entries = result["answer"]
    assert int(new_index) > int(index) and entries is None


def test_bad_input_is_refused_and_changes_nothing():
    key = uniq("bad")
    url = f"{BASE_URL}/v1/kv/{key}"
    assert requests.put(f"{BASE_URL}/v1/kv/", data="x", headers=RAW_HEADERS, timeout=10).status_code == 400
    assert requests.get(f"{BASE_URL}/v1/kv/", headers=RAW_HEADERS, timeout=10).text == "Missing key name"
    for query in ["flags=abc", "flags=-1", "cas=x", "cas=1&acquire=s", "acquire=a&release=b", "acquire="]:
        answer = requests.put(f"{url}?{query}", data="x", headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 400, query
    assert requests.delete(f"{url}?recurse&cas=1", headers=RAW_HEADERS, timeout=10).status_code == 400
    too_big = requests.put(url, data=b"x" * (512 * 1024 + 1), headers=RAW_HEADERS, timeout=30)
    assert too_big.status_code == 413
    assert "too large, max size: 524288 bytes" in too_big.text
    # A key with U+0000 cannot be stored.
    assert requests.put(f"{url}%00", data="x", headers=RAW_HEADERS, timeout=10).status_code == 400
    # An unknown session cannot acquire.
    answer = requests.put(f"{url}?acquire=no-such-session", data="x", headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 400 and "invalid session" in answer.text
    assert requests.get(url, headers=RAW_HEADERS, timeout=10).status_code == 404
    # Exactly the limit is accepted.
    assert requests.put(url, data=b"x" * (512 * 1024), headers=RAW_HEADERS, timeout=30).json() is True


def test_acls_scope_keys_and_filter_listings():
    admin = _client()
    root = uniq("acl")
    for key in ["app/config", "app/secret/db", "other/x"]:
        assert admin.kv.put(f"{root}/{key}", key)
    rules = {"key_prefix": {f"{root}/app/": {"policy": "write"}, f"{root}/app/secret/": {"policy": "deny"}}}
    policy = admin.acl.policy.create(uniq("kv-policy"), rules=rules)
    token = admin.acl.token.create(description="kv test", policies_id=[policy["ID"]])["SecretID"]
    app = _client(token)
    assert app.kv.get(f"{root}/app/config")[1]["Value"] == b"app/config"
    with pytest.raises(consul.ACLPermissionDenied):
        app.kv.get(f"{root}/app/secret/db")
    with pytest.raises(consul.ACLPermissionDenied):
        app.kv.put(f"{root}/other/x", "overwritten")
    assert admin.kv.get(f"{root}/other/x")[1]["Value"] == b"other/x"
    listing = requests.get(
        f"{BASE_URL}/v1/kv/{root}/?recurse", headers={"X-Consul-Token": token}, timeout=10
    )
    assert [e["Key"] for e in listing.json()] == [f"{root}/app/config"]
    assert listing.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    # A recursive delete over a prefix with a denied key under it is refused, and deletes nothing.
    with pytest.raises(consul.ACLPermissionDenied):
        app.kv.delete(f"{root}/app/", recurse=True)
    assert admin.kv.get(f"{root}/app/config")[1] is not None
    assert app.kv.put(f"{root}/app/new", "mine") is True
    # Anonymous callers (default deny) read and write nothing.
    anonymous = _client(None)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.get(f"{root}/app/config")
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.put(f"{root}/app/config", "anon")
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.delete(f"{root}/", recurse=True)
    anonymous_listing = requests.get(f"{BASE_URL}/v1/kv/{root}/?keys", timeout=10)
    assert anonymous_listing.status_code == 404
    assert admin.kv.get(f"{root}/app/config")[1]["Value"] == b"app/config"


def test_a_wrong_method_on_a_known_path_is_405_with_allow():
    """Consul answers 405 `method X not allowed` with `Allow: OPTIONS,<methods>` (404 would say
    the path does not exist), and OPTIONS with the same Allow."""
    for method, path, allow in [
        ("POST", "/v1/kv/some/key", "OPTIONS,GET,PUT,DELETE"),
        ("GET", "/v1/catalog/register", "OPTIONS,PUT"),
        ("DELETE", "/v1/session/list", "OPTIONS,GET"),
        ("GET", "/v1/txn", "OPTIONS,PUT"),
    ]:
        answer = requests.request(method, f"{BASE_URL}{path}", headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 405, (method, path)
        assert answer.headers["Allow"] == allow
        assert answer.text == f"method {method} not allowed"
    options = requests.options(f"{BASE_URL}/v1/kv/some/key", headers=RAW_HEADERS, timeout=10)
    assert options.status_code == 200 and options.headers["Allow"] == "OPTIONS,GET,PUT,DELETE"
    # Nothing was written by the refused calls.
    assert requests.get(f"{BASE_URL}/v1/kv/some/key", headers=RAW_HEADERS, timeout=10).status_code == 404
