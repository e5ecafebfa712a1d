"""Consul compatibility tests driven by the real `py-consul` client.

Run against a live server whose address is in CONSUL_HTTP_ADDR (``host:port``,
optionally with an ``http://`` prefix); MESH_TOKEN, if set, is sent as the ACL
token. Every test uses its own uuid-suffixed node/service names so tests are
independent of each other and of whatever else is in the catalog.

Synchronisation is done only with blocking queries (index/wait), never sleeps.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import uuid

import consul
import pytest
import requests
import requests.adapters
import urllib3
import urllib3.connection

# --------------------------------------------------------------------------
# Connection settings and helpers
# --------------------------------------------------------------------------


def _parse_addr(raw: str) -> tuple[str, int]:
    """Split CONSUL_HTTP_ADDR (``host:port`` or ``scheme://host:port``)."""
    parsed = urllib.parse.urlparse(raw if "//" in raw else "//" + raw)
    return parsed.hostname or "127.0.0.1", parsed.port or 8500


HOST, PORT = _parse_addr(os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500"))
BASE_URL = f"http://{HOST}:{PORT}"
TOKEN = os.environ.get("MESH_TOKEN") or None
RAW_HEADERS = {"X-Consul-Token": TOKEN} if TOKEN else {}


def new_client() -> consul.Consul:
    """A fresh client (requests sessions are not shared across threads)."""
    return consul.Consul(host=HOST, port=PORT, token=TOKEN)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def by_id(entries, sid):
    """The catalog/service entry with ServiceID == sid (or None)."""
    return next((e for e in entries or [] if e["ServiceID"] == sid), None)


def health_ids(entries):
    """Service IDs present in a health/service answer."""
    return {e["Service"]["ID"] for e in entries or []}


def find_check(checks, node, cid):
    return next((c for c in checks or [] if c["Node"] == node and c["CheckID"] == cid), None)


def service_def(name, sid, tags=("v1", "web"), port=8080, address="10.1.2.3"):
    return {
        "Service": name,
        "ID": sid,
        "Tags": list(tags),
        "Port": port,
        "Address": address,
        "Meta": {"version": "1"},
    }


def _signalling_adapter(sent: threading.Event) -> requests.adapters.HTTPAdapter:
    """An HTTP adapter that sets *sent* once a request has been fully written
    and the client starts waiting for the response. This lets a test know that
    a blocking query is in flight on the server before it makes a change."""

    class Conn(urllib3.connection.HTTPConnection):
        def getresponse(self, *args, **kwargs):
            sent.set()
            return super().getresponse(*args, **kwargs)

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Conn

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": urllib3.HTTPSConnectionPool}

    return Adapter()


class BlockingCall(threading.Thread):
    """Runs health.service(...) with its own client in a background thread.

    start() returns once the request has been written to the socket, so what
    the caller does next normally reaches the server while the query is
    already blocked there, not before it arrived."""

    def __init__(self, service, **kwargs):
        super().__init__(daemon=True)
        self.service, self.kwargs = service, kwargs
        self.result = self.error = self.elapsed = None
        self.sent = threading.Event()
        self.client = new_client()
        self.client.http.session.mount("http://", _signalling_adapter(self.sent))

    def start(self):
        super().start()
        assert self.sent.wait(10), "blocking request was never sent"
        # One full round trip on another connection gives the server time to
        # read the blocking request, which was written before this one.
        new_client().status.leader()

    def run(self):
        started = time.monotonic()
        try:
            self.result = self.client.health.service(self.service, **self.kwargs)
        except BaseException as exc:  # surfaced to the test via .outcome()
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - started
            self.sent.set()  # never leave start() hanging on an early failure

    def outcome(self, timeout=20):
        self.join(timeout)
        assert not self.is_alive(), f"blocking call did not return within {timeout}s"
        if self.error is not None:
            raise self.error
        return self.result


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def c():
    return new_client()


@pytest.fixture
def nodes(c):
    """Collects node names to deregister after the test (keeps the catalog tidy)."""
    created: list[str] = []
    yield created
    for node in created:
        try:
            c.catalog.deregister(node)
        except Exception:
            pass


@pytest.fixture
def svc(c, nodes):
    """One node with one service (tags v1, web) registered via py-consul."""
    node, name = uniq("node"), uniq("svc")
    sid = name + "-1"
    nodes.append(node)
    assert c.catalog.register(node, "10.0.0.1", service=service_def(name, sid)) is True
    return {"node": node, "name": name, "sid": sid}


# --------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------


def test_register_returns_true_and_services_lists_tags(c, svc):
    _, services = c.catalog.services()
    assert svc["name"] in services
    assert set(services[svc["name"]]) == {"v1", "web"}


def test_catalog_service_entry_fields(c, svc):
    index, entries = c.catalog.service(svc["name"])
    assert int(index) > 0
    entry = by_id(entries, svc["sid"])
    assert entry is not None, entries
    assert entry["ServiceName"] == svc["name"]
    assert entry["ServiceTags"] == ["v1", "web"]
    assert entry["ServicePort"] == 8080
    assert entry["ServiceAddress"] == "10.1.2.3"
    assert entry["Node"] == svc["node"]
    assert entry["Address"] == "10.0.0.1"
    assert entry["ServiceMeta"] == {"version": "1"}


def test_catalog_service_tag_filter(c, svc):
    other = svc["name"] + "-2"
    assert c.catalog.register(svc["node"], "10.0.0.1", service=service_def(svc["name"], other, tags=["v2"]))
    _, everything = c.catalog.service(svc["name"])
    assert {e["ServiceID"] for e in everything} == {svc["sid"], other}
    _, v1 = c.catalog.service(svc["name"], tag="v1")
    assert [e["ServiceID"] for e in v1] == [svc["sid"]]
    _, none = c.catalog.service(svc["name"], tag="no-such-tag")
    assert none == []


def test_catalog_nodes_and_node(c, svc):
    _, nodes = c.catalog.nodes()
    match = [n for n in nodes if n["Node"] == svc["node"]]
    assert len(match) == 1 and match[0]["Address"] == "10.0.0.1"

    _, info = c.catalog.node(svc["node"])
    assert info["Node"]["Node"] == svc["node"]
    assert info["Node"]["Address"] == "10.0.0.1"
    services = info["Services"]
    assert set(services) == {svc["sid"]}
    assert services[svc["sid"]]["Service"] == svc["name"]
    assert services[svc["sid"]]["Port"] == 8080


def test_catalog_unknown_node_is_none(c):
    index, info = c.catalog.node(uniq("unknown-xyz"))
    assert info is None
    assert int(index) > 0


def test_catalog_unknown_service_is_empty(c):
    _, entries = c.catalog.service(uniq("unknown-svc"))
    assert entries == []
    _, health = c.health.service(uniq("unknown-svc"))
    assert health == []


def test_deregister_service(c, svc):
    assert c.catalog.deregister(svc["node"], service_id=svc["sid"]) is True
    _, entries = c.catalog.service(svc["name"])
    assert by_id(entries, svc["sid"]) is None
    _, services = c.catalog.services()
    assert svc["name"] not in services
    _, info = c.catalog.node(svc["node"])
    assert info is not None and svc["sid"] not in (info["Services"] or {})


def test_deregister_unknown_node_is_true(c):
    assert c.catalog.deregister(uniq("unknown-node")) is True


# --------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------


def register_with_check(c, node, name, sid, cid, status):
    check = {"Name": "probe", "CheckID": cid, "Status": status, "ServiceID": sid}
    return c.catalog.register(node, "10.0.0.2", service=service_def(name, sid), check=check)


def test_health_service_shape(c, svc):
    _, entries = c.health.service(svc["name"])
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) >= {"Node", "Service", "Checks"}
    assert entry["Node"]["Node"] == svc["node"]
    assert entry["Service"]["ID"] == svc["sid"]
    assert entry["Service"]["Service"] == svc["name"]
    assert entry["Service"]["Port"] == 8080
    assert isinstance(entry["Checks"], list)


def test_health_passing_filter(c, nodes):
    node, name, cid = uniq("node"), uniq("svc"), uniq("chk")
    sid = name + "-1"
    nodes.append(node)
    assert register_with_check(c, node, name, sid, cid, "critical") is True

    _, all_entries = c.health.service(name)
    assert health_ids(all_entries) == {sid}
    entry = all_entries[0]
    check = find_check(entry["Checks"], node, cid)
    assert check is not None and check["Status"] == "critical"
    assert check["ServiceID"] == sid and check["ServiceName"] == name

    _, passing = c.health.service(name, passing=True)
    assert passing == []

    assert register_with_check(c, node, name, sid, cid, "passing") is True
    _, passing = c.health.service(name, passing=True)
    assert health_ids(passing) == {sid}


def test_health_checks_node_state(c, nodes):
    node, name, cid = uniq("node"), uniq("svc"), uniq("chk")
    sid = name + "-1"
    nodes.append(node)
    assert register_with_check(c, node, name, sid, cid, "critical") is True

    _, checks = c.health.checks(name)
    assert find_check(checks, node, cid) is not None

    _, node_checks = c.health.node(node)
    found = find_check(node_checks, node, cid)
    assert found is not None and found["ServiceID"] == sid

    _, critical = c.health.state("critical")
    assert find_check(critical, node, cid)["Status"] == "critical"

    _, passing = c.health.state("passing")
    assert find_check(passing, node, cid) is None


def test_health_unknown_node_is_empty(c):
    _, checks = c.health.node(uniq("unknown-node"))
    assert checks == []


# --------------------------------------------------------------------------
# Blocking queries
# --------------------------------------------------------------------------


def test_blocking_query_wakes_on_change(c, svc):
    index, entries = c.health.service(svc["name"])
    assert health_ids(entries) == {svc["sid"]}

    waiter = BlockingCall(svc["name"], index=index, wait="30s")
    waiter.start()
    sid2 = svc["name"] + "-2"
    assert c.catalog.register(svc["node"], "10.0.0.1", service=service_def(svc["name"], sid2))

    new_index, new_entries = waiter.outcome(timeout=20)
    assert int(new_index) > int(index)
    assert health_ids(new_entries) == {svc["sid"], sid2}


def test_blocking_query_times_out_with_same_index(c, svc):
    index, _ = c.health.service(svc["name"])
    started = time.monotonic()
    new_index, entries = c.health.service(svc["name"], index=index, wait="1s")
    elapsed = time.monotonic() - started
    assert elapsed >= 0.9, f"returned after {elapsed:.2f}s without a change"
    assert int(new_index) == int(index)
    assert health_ids(entries) == {svc["sid"]}


def test_blocking_query_not_woken_by_other_service(c, svc, nodes):
    index, _ = c.health.service(svc["name"])

    waiter = BlockingCall(svc["name"], index=index, wait="2s")
    waiter.start()
    other_node, other_name = uniq("node"), uniq("svc")
    nodes.append(other_node)
    assert c.catalog.register(other_node, "10.0.0.9", service=service_def(other_name, other_name))

    new_index, entries = waiter.outcome(timeout=20)
    assert waiter.elapsed >= 1.5, f"woken after {waiter.elapsed:.2f}s by an unrelated service"
    assert int(new_index) == int(index)
    assert health_ids(entries) == {svc["sid"]}


# --------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------


def test_status_leader_and_peers(c):
    leader = c.status.leader()
    assert isinstance(leader, str) and leader
    host, _, port = leader.rpartition(":")
    assert host and port.isdigit(), leader

    peers = c.status.peers()
    assert isinstance(peers, list) and peers
    assert all(isinstance(p, str) and ":" in p for p in peers)


# --------------------------------------------------------------------------
# TTL checks through the agent endpoint
# --------------------------------------------------------------------------


def test_ttl_check_pass(c, nodes):
    node, name, cid = uniq("node"), uniq("svc"), uniq("ttl")
    sid = name + "-1"
    nodes.append(node)
    check = {"Name": "ttl", "CheckID": cid, "ServiceID": sid, "Definition": {"TTL": "30s"}, "Status": "critical"}
    assert c.catalog.register(node, "10.0.0.3", service=service_def(name, sid), check=check) is True

    _, checks = c.health.checks(name)
    assert find_check(checks, node, cid)["Status"] == "critical"

    assert c.agent.check.ttl_pass(cid, "ok: all good") is True
    _, checks = c.health.checks(name)
    assert find_check(checks, node, cid)["Status"] == "passing"
    # py-consul form-encodes the note (a space as "+"), as Go's query parser reads it.
    assert find_check(checks, node, cid)["Output"] == "ok: all good"


def test_ttl_pass_unknown_check(c):
    # py-consul's boolean callback turns a 404 into False; other errors raise
    # (NotFound and the 5xx ConsulException are both ConsulException).
    try:
        result = c.agent.check.ttl_pass(uniq("no-such-check"))
    except consul.ConsulException:
        return
    assert result is False, "ttl_pass on an unknown check id must fail"


# --------------------------------------------------------------------------
# Bad input (raw HTTP)
# --------------------------------------------------------------------------


def raw_put(path, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.put(BASE_URL + path, data=data, headers=RAW_HEADERS, timeout=30)


def test_bad_register_bodies_are_rejected(c):
    n_missing_addr, n_bad_port, n_huge = uniq("bad-addr"), uniq("bad-port"), uniq("bad-huge")

    r = raw_put("/v1/catalog/register", "{not json")
    assert r.status_code == 400, r.text

    r = raw_put("/v1/catalog/register", {"Node": n_missing_addr})
    assert r.status_code == 400, r.text
    assert "Address" in r.text

    bad_port = {"Node": n_bad_port, "Address": "10.0.0.4", "Service": {"Service": "x", "Port": "abc"}}
    r = raw_put("/v1/catalog/register", bad_port)
    assert r.status_code == 400, r.text
    assert "Port" in r.text

    huge = {"Node": n_huge, "Address": "10.0.0.5", "NodeMeta": {"pad": "x" * (2 * 1024 * 1024 + 1024)}}
    r = raw_put("/v1/catalog/register", json.dumps(huge).encode())
    assert r.status_code == 413, r.text[:200]

    r = requests.get(BASE_URL + "/v1/health/service/x", params={"index": "abc"}, headers=RAW_HEADERS, timeout=30)
    assert r.status_code == 400, r.text

    # Nothing from the rejected requests was half-written.
    _, all_nodes = c.catalog.nodes()
    names = {n["Node"] for n in all_nodes}
    for bad in (n_missing_addr, n_bad_port, n_huge):
        assert bad not in names
        assert c.catalog.node(bad)[1] is None


# --------------------------------------------------------------------------
# Response headers
# --------------------------------------------------------------------------

READ_PATHS = [
    "/v1/catalog/nodes",
    "/v1/catalog/services",
    "/v1/catalog/service/{name}",
    "/v1/catalog/node/{node}",
    "/v1/catalog/node/unknown-xyz-{name}",
    "/v1/health/service/{name}",
    "/v1/health/checks/{name}",
    "/v1/health/node/{node}",
    "/v1/health/state/any",
    "/v1/health/state/critical",
]


@pytest.mark.parametrize("template", READ_PATHS)
def test_read_response_headers(svc, template):
    path = template.format(name=svc["name"], node=svc["node"])
    r = requests.get(BASE_URL + path, headers=RAW_HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    index = r.headers.get("X-Consul-Index")
    assert index is not None and index.isdigit() and int(index) > 0, r.headers
    assert r.headers.get("X-Consul-KnownLeader") in ("true", "false"), r.headers
    last_contact = r.headers.get("X-Consul-LastContact")
    assert last_contact is not None and last_contact.isdigit(), r.headers
