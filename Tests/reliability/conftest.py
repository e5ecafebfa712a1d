import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from meshharness import CLUSTER, ControlPlane, Metadata  # noqa: E402

# Every proxy renews its leaf during a scenario (issue 18, scenario 4): ca-svc caps leaves at this.
MAX_LEAF_TTL = os.environ.get("MESH_RELIABILITY_LEAF_TTL", "20s")
# The tests that failed in this run (their control plane's log is kept).
FAILED = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Marks a test whose call passed (fixtures keep the logs of the others)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.passed = report.passed
    if report.failed:
        FAILED.append(item.nodeid)


@pytest.fixture(scope="session")
def binaries():
    path = os.environ.get("MESH_BIN")
    if not path:
        pytest.skip("MESH_BIN (the built executables) is not set")
    return path


@pytest.fixture(scope="session")
def mesh(binaries):
    """`meshctl dev --replicas 2`, the cluster's node registered (tasks register on it, as on ECS)."""
    plane = ControlPlane(binaries, replicas=2, environment={"MESH_CA_MAX_LEAF_TTL": MAX_LEAF_TTL})
    try:
        response = plane.put("/v1/catalog/register", {"Node": CLUSTER, "Address": "127.0.0.1"})
        assert response.status_code == 200, response.text
        yield plane
    finally:
        status = plane.stop()
        assert status == 0, f"meshctl dev stopped with status {status} (log {plane.log_path})"
        # Kept when a scenario failed (the services' side of it), or when asked for.
        if FAILED or os.environ.get("MESH_RELIABILITY_KEEP_LOG") == "1":
            print(f"\nmeshctl dev's log: {plane.log_path}")
        else:
            os.unlink(plane.log_path)


@pytest.fixture(scope="session")
def network(mesh):
    """Run as root: a bridge for the tasks' namespaces, with forwarders to the control plane's
    gateway and distributors (None otherwise: tasks share the host's loopback)."""
    if not netns.available():
        yield None
        return
    ports = [int(address.rsplit(":", 1)[1]) for address in [mesh.address] + mesh.distributors.split(",")]
    bridge = netns.Network(ports)
    try:
        yield bridge
    finally:
        bridge.close()


@pytest.fixture(scope="session")
def metadata(network):
    endpoint = Metadata(network)
    yield endpoint
    endpoint.close()


@pytest.fixture
def report(request, capsys):
    """Prints a scenario's figures (and appends them to MESH_RELIABILITY_REPORT when set)."""

    def write(figures):
        line = f"reliability: {request.node.name}: " + json.dumps(figures, sort_keys=True)
        with capsys.disabled():
            print("\n" + line)
        path = os.environ.get("MESH_RELIABILITY_REPORT")
        if path:
            with open(path, "a") as file:
                file.write(json.dumps(dict(figures, scenario=request.node.name)) + "\n")

    return write
