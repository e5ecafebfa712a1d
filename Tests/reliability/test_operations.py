"""Issue 18's scenarios, bounded: each runs a steady load through a client task's proxy to a server
service of three tasks, does one day-two operation (or fault) to the mesh, and asserts that no
request failed, none started at a task already told to stop, and none reached an app before it
was ready. `MESH_RELIABILITY_SCALE=N` repeats each operation N times (the long runs of
docs/RELIABILITY.md)."""

import itertools
import os
import re
import signal
import threading
import time

import pytest

from meshharness import Fleet, wait_for

SCALE = int(os.environ.get("MESH_RELIABILITY_SCALE", "1"))


def assert_clean(figures):
    """No request failed; none reached an app before it was ready or after it got SIGTERM; and
    the requests sent between a task's DesiredStatus STOPPED and its app's SIGTERM (ECS does both
    at once; the harness a fraction of a millisecond apart) that reached it stay within that
    window's share: at most one per stop. No agent or proxy logged an error."""
    assert figures["failed"] == 0, figures
    assert figures["app_early"] == 0, figures
    assert figures["app_late"] == 0, figures
    assert figures["to_stopping"] <= figures["stops"], figures
    assert figures["error_lines"] == 0, figures


@pytest.fixture
def fleet(mesh, metadata, request):
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_")).strip("-")
    fleet = Fleet(mesh, metadata, name[:40])
    yield fleet
    fleet.kill()
    # The tasks' logs stay for a failed test (their paths are in its output).
    if getattr(request.node, "passed", False):
        fleet.remove_logs()


def test_rolling_deploy(fleet, report):
    """Every server task replaced one at a time (the new one passes, then the old one stops), twice."""
    fleet.run()
    replaced = 0
    for _ in range(2 * SCALE):
        for old in list(fleet.servers):
            fleet.replace(old)
            replaced += 1
    figures = fleet.stop()
    figures["replaced"] = replaced
    report(figures)
    assert_clean(figures)
    assert len(figures["served_by"]) == 3 + replaced, figures


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_rolling_deploy_l7(mesh, metadata, report, protocol):
    """The rolling deploy with the service's protocol `http` (HTTP/1.1 requests, each on its own
    connection) or `grpc` (calls on one channel): the proxies balance each request over pooled
    HTTP/2 connections; a request that reaches a proxy whose app has stopped is refused there
    (REFUSED_STREAM) and sent elsewhere by the caller's proxy, and a connection the app sent
    GOAWAY on takes no new requests."""
    service = f"rolling-deploy-{protocol}"
    response = mesh.put("/v1/config", {"Kind": "service-defaults", "Name": service, "Protocol": protocol})
    assert response.status_code == 200, response.text
    fleet = Fleet(mesh, metadata, service, grpc=protocol == "grpc")
    try:
        fleet.run()
        for _ in range(SCALE):
            for old in list(fleet.servers):
                fleet.replace(old)
        figures = fleet.stop()
    finally:
        fleet.kill()
    report(figures)
    assert figures["failed"] == 0, figures
    assert figures["app_early"] == 0, figures
    assert figures["error_lines"] == 0, figures
    assert len(figures["served_by"]) > 3, figures
    fleet.remove_logs()


def test_scale_out_and_in(fleet, report):
    """Two tasks added and then three removed, under load."""
    fleet.run()
    for _ in range(SCALE):
        added = [fleet.add(), fleet.add()]
        for task in added:
            fleet.wait_served_by(task)
        for task in list(fleet.servers)[:3]:
            fleet.remove(task)
        fleet.add()
    figures = fleet.stop()
    report(figures)
    assert_clean(figures)


CONTROL_PLANE = ["authz-svc", "catalog-svc", "ca-svc", "iam-auth-svc", "config-distributor"]


@pytest.mark.parametrize("service", CONTROL_PLANE)
def test_control_plane_replica_killed(mesh, fleet, report, service):
    """A replica of `service` is SIGKILLed while a new server task registers and an intention
    changes: the load sees no failure, the new task gets requests, the change reaches the
    proxies, and meshctl dev replaces the replica."""
    fleet.run()
    for round in range(SCALE):
        victim = f"{service}#{1 + round % 2}"
        before = mesh.pids()[victim]
        source = f"canary-{round}-{service}"
        results = {}

        def change():
            results["task"] = fleet.add()
            response = mesh.put(
                f"/v1/connect/intentions/exact?source={source}&destination={fleet.service}", {"Action": "deny"}
            )
            results["intention"] = response.status_code

        changing = threading.Thread(target=change, daemon=True)
        changing.start()
        os.kill(before, signal.SIGKILL)
        changing.join(timeout=180)
        assert results.get("intention") == 200, results
        fleet.wait_served_by(results["task"])
        # The intention reached a server's proxy (its authorization follows the intentions' watch).
        proxy = fleet.servers[0]

        def has_intention():
            config = proxy.admin_get("/config").json()
            return source in str(config)

        wait_for(f"the intention {source} reaches {proxy.name}'s proxy", has_intention, timeout=60)
        wait_for(f"{victim} replaced", lambda: mesh.pids()[victim] != before, timeout=60)
        fleet.remove(fleet.servers[0])
    figures = fleet.stop()
    report(figures)
    assert_clean(figures)


def test_ca_root_rotation_and_leaf_renewal(mesh, fleet, report):
    """A forced root rotation, with leaves capped at a short TTL so that every proxy also renews
    its leaf during the run."""
    fleet.run()
    roots = mesh.get("/v1/connect/ca/roots").json()
    for _ in range(SCALE):
        response = mesh.put(
            "/v1/connect/ca/configuration", {"Provider": "consul", "Config": {"ForceRootRotation": True}}
        )
        assert response.status_code == 200, response.text
        wait_for(
            "a new active root",
            lambda: mesh.get("/v1/connect/ca/roots").json()["ActiveRootID"] != roots["ActiveRootID"],
        )
        roots = mesh.get("/v1/connect/ca/roots").json()
        # Past the leaves' lifetime: every proxy has renewed (or its mTLS would have failed).
        fleet.load.wait_requests(len(fleet.load.records) + 150 * 25, timeout=120)
    figures = fleet.stop()
    report(figures)
    assert_clean(figures)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart(mesh, fleet, report, mode):
    """PostgreSQL stopped (fast: SIGINT; immediate: SIGQUIT) and started again by meshctl dev,
    while the load runs and KV writes go on: the data plane does not notice, every write that was
    acknowledged is there afterwards, and a change made after it reaches the proxies."""
    fleet.run()
    acknowledged = []
    # Why writes were not acknowledged (allowed: PostgreSQL was down), for the report.
    refusals = {}
    writing = threading.Event()
    writing.set()

    numbers = itertools.count(1)

    def write():
        while writing.is_set():
            n = next(numbers)
            started = time.time()
            try:
                response = mesh.put(f"/v1/kv/reliability/{mode}/{n}", timeout=10, body=None)
                if response.status_code == 200 and response.text.strip() == "true":
                    acknowledged.append(n)
                    reason = None
                else:
                    reason = f"{response.status_code} {response.text.strip()[:80]}"
            except Exception as error:  # noqa: BLE001 - unacknowledged writes are allowed to be lost
                reason = f"{type(error).__name__} after {time.time() - started:.1f} s"
            if reason:
                refusals[reason] = refusals.get(reason, 0) + 1
            time.sleep(0.02)

    # Three clients, as a service has several: one write stuck on the PostgreSQL that went away
    # (until its 10 s timeout) does not hold the others.
    writers = [threading.Thread(target=write, daemon=True) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        for _ in range(SCALE):
            before = mesh.pids()["postgres"]
            os.kill(before, signal.SIGINT if mode == "fast" else signal.SIGQUIT)
            wait_for("PostgreSQL started again", lambda: mesh.pids()["postgres"] != before, timeout=120)
            fleet.wait_served_by(fleet.add())
            fleet.remove(fleet.servers[0])
    finally:
        # Also when a step failed: the run must end (this thread kept a failed run from exiting).
        writing.clear()
        for writer in writers:
            writer.join(timeout=30)
    keys = mesh.get(f"/v1/kv/reliability/{mode}/?keys")
    # Consul answers 404 for a prefix with no keys.
    assert keys.status_code in (200, 404), keys.text
    stored = {int(entry.rsplit("/", 1)[1]) for entry in (keys.json() if keys.status_code == 200 else [])}
    figures = fleet.stop()
    figures.update({
        "kv_acknowledged": len(acknowledged), "kv_lost": len(set(acknowledged) - stored),
        "kv_not_acknowledged": dict(sorted(refusals.items(), key=lambda item: -item[1])[:5]),
    })
    report(figures)
    assert acknowledged, f"no KV write was acknowledged: {figures['kv_not_acknowledged']}"
    assert set(acknowledged) <= stored
    assert_clean(figures)


@pytest.mark.parametrize("fault", ["500", "hang"])
def test_failed_instance(fleet, report, fault):
    """One server's app starts answering 500 (or stops answering at all): its health check takes
    it out of every caller's rotation. Its requests from the fault on fail (the app's own answers:
    the `tcp` path does not read HTTP); their number is bounded by the time the check takes."""
    fleet.run()
    victim = fleet.servers[0]
    faulted = time.time()
    victim.signal_app(signal.SIGUSR1 if fault == "500" else signal.SIGUSR2)
    wait_for(f"{victim.name} out of the catalog's passing instances", lambda: not victim.passing(), timeout=60)
    out = time.time()
    # Everything sent from here on goes elsewhere.
    fleet.load.wait_requests(len(fleet.load.records) + 300)
    fleet.remove(victim)
    figures = fleet.stop()
    records = list(fleet.load.records)
    to_victim = [r for r in records if r[2] == victim.name and r[0] >= faulted]
    failed_after = [r for r in records if r[3] is not None and r[0] >= out + 2.0]
    figures.update(
        {
            "fault": fault,
            "fault_to_critical_s": round(out - faulted, 2),
            "failed_after_critical_plus_2s": len(failed_after),
            "answered_by_victim_after_fault": len(to_victim),
        }
    )
    report(figures)
    # The failures are the faulted app's own, within the time its check took to turn critical
    # (a check every 250 ms, the agent's sync every second) and to reach the callers.
    assert figures["failed"] <= fleet.load.rate * (figures["fault_to_critical_s"] + 2.0), figures
    assert failed_after == [], figures
    assert figures["app_early"] == 0, figures
