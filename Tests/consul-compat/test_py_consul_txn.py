"""Transactions (`PUT /v1/txn`) against `meshctl dev`, checked with py-consul: KV, node, service and
check operations all or nothing, Consul's error shape (409 with `Errors`/`OpIndex`), the limit
on operations (413), bad bodies (400), and ACL refusals per operation with nothing changed.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev server's management token).
"""

from __future__ import annotations

import base64

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")


def _client(token: str | None = TOKEN) -> consul.Consul:
    return consul.Consul(host=HOST, port=PORT, token=token)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _txn(operations, token: str | None = TOKEN) -> requests.Response:
    headers = {"X-Consul-Token": token} if token else {}
    return requests.put(f"{BASE_URL}/v1/txn", json=operations, headers=headers, timeout=30)


def _applied(operations) -> dict:
    """A transaction that must succeed. (py-consul's `txn.put` sends no token at all, so under
    default deny it is always anonymous: the tests send the same body with the token.)"""
    answer = _txn(operations)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_kv_operations_apply_together():
    c = _client()
    root = uniq("txn")
    answer = _applied(
        [
            {"KV": {"Verb": "set", "Key": f"{root}/a", "Value": _b64("1")}},
            {"KV": {"Verb": "set", "Key": f"{root}/b", "Value": _b64("2"), "Flags": 7}},
            {"KV": {"Verb": "check-not-exists", "Key": f"{root}/c"}},
            {"KV": {"Verb": "get-tree", "Key": f"{root}/"}},
        ]
    )
    assert answer["Errors"] is None
    keys = [r["KV"]["Key"] for r in answer["Results"]]
    assert keys == [f"{root}/a", f"{root}/b", f"{root}/a", f"{root}/b"]
    # Writes answer the entry without its value; reads with it.
    assert answer["Results"][0]["KV"]["Value"] is None
    assert base64.b64decode(answer["Results"][3]["KV"]["Value"]) == b"2"
    assert answer["Results"][3]["KV"]["Flags"] == 7
    index = answer["Results"][0]["KV"]["ModifyIndex"]
    answer = _applied(
        [
            {"KV": {"Verb": "cas", "Key": f"{root}/a", "Value": _b64("1b"), "Index": index}},
            {"KV": {"Verb": "check-index", "Key": f"{root}/b", "Index": answer["Results"][1]["KV"]["ModifyIndex"]}},
            {"KV": {"Verb": "delete", "Key": f"{root}/b"}},
            {"KV": {"Verb": "get-or-empty", "Key": f"{root}/missing"}},
        ]
    )
    assert answer["Errors"] is None
    assert c.kv.get(f"{root}/a")[1]["Value"] == b"1b"
    assert c.kv.get(f"{root}/b")[1] is None
    assert answer["Results"][-1]["KV"]["Key"] == f"{root}/missing"


def test_a_failing_operation_rolls_back_everything():
    c = _client()
    root = uniq("txn-fail")
    assert c.kv.put(f"{root}/kept", "original")
    answer = _txn(
        [
            {"KV": {"Verb": "set", "Key": f"{root}/new", "Value": _b64("x")}},
            {"KV": {"Verb": "set", "Key": f"{root}/kept", "Value": _b64("changed")}},
            {"KV": {"Verb": "cas", "Key": f"{root}/kept", "Value": _b64("y"), "Index": 1}},
        ]
    )
    assert answer.status_code == 409
    body = answer.json()
    assert body["Results"] is None
    assert body["Errors"] == [{"OpIndex": 2, "What": f'failed to set key "{root}/kept", index is stale'}]
    assert c.kv.get(f"{root}/new")[1] is None
    assert c.kv.get(f"{root}/kept")[1]["Value"] == b"original"
    for operation, what in [
        ({"KV": {"Verb": "get", "Key": f"{root}/none"}}, f'key "{root}/none" doesn\'t exist'),
        ({"KV": {"Verb": "check-not-exists", "Key": f"{root}/kept"}}, f'key "{root}/kept" exists'),
        ({"KV": {"Verb": "frobnicate", "Key": f"{root}/kept"}}, 'unknown KV verb "frobnicate"'),
        ({"KV": {"Verb": "set", "Key": ""}}, "Must provide key"),
        ({"KV": {"Verb": "lock", "Key": f"{root}/kept", "Session": "no-such"}}, 'invalid session "no-such"'),
    ]:
        answer = _txn([{"KV": {"Verb": "set", "Key": f"{root}/side", "Value": _b64("s")}}, operation])
        assert answer.status_code == 409, operation
        assert answer.json()["Errors"][0]["What"] == what
        assert answer.json()["Errors"][0]["OpIndex"] == 1
        assert c.kv.get(f"{root}/side")[1] is None


def test_catalog_operations_with_kv():
    c = _client()
    node, service = uniq("txn-node"), uniq("txn-svc")
    answer = _applied(
        [
            {"Node": {"Verb": "set", "Node": {"Node": node, "Address": "10.1.2.3", "Meta": {"rack": "r1"}}}},
            {"Service": {"Verb": "set", "Node": node, "Service": {"ID": service, "Service": service, "Port": 80}}},
            {
                "Check": {
                    "Verb": "set",
                    "Check": {"Node": node, "CheckID": f"{service}-up", "Name": "up", "Status": "passing",
                              "ServiceID": service},
                }
            },
            {"KV": {"Verb": "set", "Key": f"{node}/owner", "Value": _b64(service)}},
        ]
    )
    assert answer["Errors"] is None
    assert answer["Results"][0]["Node"]["Node"] == node
    assert answer["Results"][0]["Node"]["Meta"] == {"rack": "r1"}
    assert answer["Results"][1]["Service"]["ID"] == service
    assert answer["Results"][2]["Check"]["CheckID"] == f"{service}-up"
    _, instances = c.health.service(service)
    assert [i["Node"]["Node"] for i in instances] == [node]
    # A stale index fails the whole transaction: the node stays, the service stays.
    node_index = answer["Results"][0]["Node"]["ModifyIndex"]
    failed = _txn(
        [
            {"Service": {"Verb": "delete", "Node": node, "Service": {"ID": service}}},
            {"Node": {"Verb": "delete-cas", "Node": {"Node": node, "ModifyIndex": node_index + 1000}}},
        ]
    )
    assert failed.status_code == 409
    assert failed.json()["Errors"][0] == {"OpIndex": 1, "What": f'failed to delete node "{node}", index is stale'}
    assert [i["Node"]["Node"] for i in c.health.service(service)[1]] == [node]
    # A service on a node that does not exist is refused.
    missing = _txn([{"Service": {"Verb": "set", "Node": uniq("nowhere"), "Service": {"Service": "x"}}}])
    assert missing.status_code == 409 and "doesn't exist" in missing.json()["Errors"][0]["What"]
    done = _applied(
        [
            {"Node": {"Verb": "get", "Node": {"Node": node}}},
            {"Node": {"Verb": "delete", "Node": {"Node": node}}},
            {"KV": {"Verb": "delete", "Key": f"{node}/owner"}},
        ]
    )
    assert done["Results"][0]["Node"]["Address"] == "10.1.2.3"
    assert c.health.service(service)[1] == []


def test_limits_and_bad_bodies():
    root = uniq("txn-limits")
    too_many = [{"KV": {"Verb": "set", "Key": f"{root}/{i}", "Value": _b64("v")}} for i in range(65)]
    answer = _txn(too_many)
    assert answer.status_code == 413
    assert answer.text == "Transaction contains too many operations (65 > 64)"
    assert _client().kv.get(f"{root}/0")[1] is None
    assert _txn(too_many[:64]).status_code == 200
    for body in ["{", '{"KV": {}}', '[{"KV": {"Verb": "set", "Key": "k", "Value": "***"}}]', "[1]"]:
        answer = requests.put(f"{BASE_URL}/v1/txn", data=body, headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 400, body
        assert answer.text.startswith("Failed to parse body"), answer.text
    huge = [{"KV": {"Verb": "set", "Key": f"{root}/big", "Value": _b64("x" * 600_000)}}]
    assert _txn(huge).status_code == 413
    assert _client().kv.get(f"{root}/big")[1] is None


def test_acl_refusals_are_per_operation_and_change_nothing():
    admin = _client()
    root = uniq("txn-acl")
    policy = admin.acl.policy.create(uniq("txn-policy"), rules={"key_prefix": {f"{root}/mine/": {"policy": "write"}}})
    token = admin.acl.token.create(description="txn test", policies_id=[policy["ID"]])["SecretID"]
    assert admin.kv.put(f"{root}/theirs/x", "theirs")
    answer = _txn(
        [
            {"KV": {"Verb": "set", "Key": f"{root}/mine/a", "Value": _b64("1")}},
            {"KV": {"Verb": "set", "Key": f"{root}/theirs/x", "Value": _b64("stolen")}},
            {"KV": {"Verb": "delete-tree", "Key": f"{root}/"}},
        ],
        token=token,
    )
    assert answer.status_code == 409
    errors = answer.json()["Errors"]
    assert [e["OpIndex"] for e in errors] == [1, 2]
    assert all(e["What"].startswith("Permission denied") for e in errors)
    assert admin.kv.get(f"{root}/mine/a")[1] is None
    assert admin.kv.get(f"{root}/theirs/x")[1]["Value"] == b"theirs"
    # Reads leave out what the token may not read.
    assert _txn([{"KV": {"Verb": "set", "Key": f"{root}/mine/a", "Value": _b64("1")}}], token=token).status_code == 200
    read = _txn([{"KV": {"Verb": "get-tree", "Key": f"{root}/"}}], token=token)
    assert read.status_code == 200
    assert [r["KV"]["Key"] for r in read.json()["Results"]] == [f"{root}/mine/a"]
    anonymous = _txn([{"Node": {"Verb": "set", "Node": {"Node": uniq("anon"), "Address": "10.0.0.1"}}}], token=None)
    assert anonymous.status_code == 409
    assert anonymous.json()["Errors"][0]["What"].startswith("Permission denied")
