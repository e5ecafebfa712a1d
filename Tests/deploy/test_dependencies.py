"""The module dependency rules of docs/ARCHITECTURE.md, checked on Package.swift as SwiftPM reads it."""

import json
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = {"mesh-bench", "identity-bench", "login-bench", "distributor-bench", "kv-bench", "registration-reference"}


@pytest.fixture(scope="module")
def package():
    dump = subprocess.run(
        ["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(dump.stdout)


def local_targets(package):
    return {target["name"]: target for target in package["targets"]}


def dependencies(target, targets):
    """Direct dependencies: local target names and external product names."""
    local, products = set(), set()
    for dependency in target["dependencies"]:
        if "product" in dependency:
            products.add(dependency["product"][0])
        else:
            name = (dependency.get("byName") or dependency.get("target"))[0]
            (local if name in targets else products).add(name)
    return local, products


def closure(name, targets):
    """Every local target and external product `name` depends on, transitively."""
    seen, products, stack = set(), set(), [name]
    while stack:
        local, external = dependencies(targets[stack.pop()], targets)
        products |= external
        for dependency in local - seen:
            seen.add(dependency)
            stack.append(dependency)
    return seen, products


def path(target):
    return target.get("path") or ""


def test_shared_never_depends_on_services_and_services_not_on_each_other(package):
    targets = local_targets(package)
    for name, target in targets.items():
        if target["type"] == "test":
            continue
        local, _ = dependencies(target, targets)
        for dependency in local:
            other = path(targets[dependency])
            if path(target).startswith("Shared/"):
                assert not other.startswith("Services/"), f"{name} (Shared) depends on {dependency} (Services)"
            if path(target).startswith("Services/") and path(target).endswith("/Sources"):
                assert not other.startswith("Services/"), f"service library {name} depends on {dependency}"


def test_the_data_plane_never_reaches_the_store(package):
    targets = local_targets(package)
    for name in ["Proxy", "ProxyMain", "Agent", "AgentMain", "MeshAgentAPI"]:
        local, products = closure(name, targets)
        assert not local & {"MeshStore", "MeshServer"}, f"{name} reaches {sorted(local & {'MeshStore', 'MeshServer'})}"
        assert "PostgresNIO" not in products, f"{name} links PostgresNIO"


def test_the_foundations_stand_alone(package):
    targets = local_targets(package)
    assert dependencies(targets["MeshCore"], targets) == (set(), set())
    for name in ["MeshNet", "MeshTLS", "AWS"]:
        local, _ = dependencies(targets[name], targets)
        assert not local, f"{name} depends on {sorted(local)}"
    local, _ = dependencies(targets["MeshProcess"], targets)
    assert local <= {"MeshCore"}


def test_no_shipped_executable_links_the_test_fixtures(package):
    targets = local_targets(package)
    shipped = [
        product
        for product in package["products"]
        if "executable" in product["type"] and product["name"] not in BENCHMARKS
    ]
    assert len(shipped) == 8
    for product in shipped:
        for target in product["targets"]:
            local, _ = closure(target, targets)
            assert "MeshTesting" not in local, f"{product['name']} links MeshTesting"


def test_config_distributor_has_no_database(package):
    """config-distributor keeps no durable state: it runs on MeshServer, never the store layer."""
    targets = local_targets(package)
    for name in ["ConfigDistributor", "ConfigDistributorMain", "MeshServer"]:
        local, products = closure(name, targets)
        assert not local & {"MeshStore", "MeshStoreHost"}, f"{name} reaches {sorted(local & {'MeshStore', 'MeshStoreHost'})}"
        assert "PostgresNIO" not in products, f"{name} links PostgresNIO"
