"""`meshctl kv` and `meshctl lock` against `meshctl dev`, with `consul kv`'s and `consul lock`'s
flags and output: put/get/delete, -cas, -recurse and -keys, export and import round trip, and a
lock that two commands compete for, never holding it together.

Needs CONSUL_HTTP_ADDR, MESH_TOKEN and MESH_BIN (the built executables).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import consul
import pytest

from test_py_consul import HOST, PORT, TOKEN, uniq

BIN = os.environ.get("MESH_BIN")
pytestmark = pytest.mark.skipif(not (TOKEN and BIN), reason="needs MESH_TOKEN and MESH_BIN")


def meshctl(*arguments: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = dict(os.environ, CONSUL_HTTP_ADDR=f"{HOST}:{PORT}", CONSUL_HTTP_TOKEN=TOKEN or "")
    return subprocess.run(
        [f"{BIN}/meshctl", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def test_put_get_delete_and_cas():
    key = f"{uniq('cli')}/config"
    put = meshctl("kv", "put", "-flags", "42", key, "hello world")
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() == f"Success! Data written to: {key}"
    got = meshctl("kv", "get", key)
    assert got.stdout == "hello world\n"
    detailed = meshctl("kv", "get", "-detailed", key).stdout
    assert "Flags           42" in detailed and f"Key             {key}" in detailed
    index = next(line.split()[1] for line in detailed.splitlines() if line.startswith("ModifyIndex"))
    refused = meshctl("kv", "put", "-cas", "-modify-index", str(int(index) + 100), key, "stale")
    assert refused.returncode != 0 and "CAS failed" in refused.stderr
    assert meshctl("kv", "put", "-cas", "-modify-index", index, key, "fresh").returncode == 0
    assert meshctl("kv", "put", key + "-stdin", "-", stdin="from stdin").returncode == 0
    assert meshctl("kv", "get", key + "-stdin").stdout == "from stdin\n"
    deleted = meshctl("kv", "delete", key)
    assert deleted.stdout.strip() == f"Success! Deleted key: {key}"
    missing = meshctl("kv", "get", key)
    assert missing.returncode == 1 and f"Error! No key exists at: {key}" in missing.stderr


def test_recurse_keys_export_and_import():
    root = uniq("cli-tree")
    for name, value in [("a", "1"), ("b/c", "2"), ("b/d", "3")]:
        assert meshctl("kv", "put", f"{root}/{name}", value).returncode == 0
    assert meshctl("kv", "get", "-recurse", f"{root}/").stdout.splitlines() == [
        f"{root}/a:1",
        f"{root}/b/c:2",
        f"{root}/b/d:3",
    ]
    assert meshctl("kv", "get", "-keys", f"{root}/").stdout.splitlines() == [f"{root}/a", f"{root}/b/"]
    exported = meshctl("kv", "export", f"{root}/")
    assert exported.returncode == 0
    entries = json.loads(exported.stdout)
    assert [e["key"] for e in entries] == [f"{root}/a", f"{root}/b/c", f"{root}/b/d"]
    # Import the export under another prefix; the values and flags come back the same.
    copy = uniq("cli-copy")
    imported = meshctl("kv", "import", "-prefix", f"{copy}/", "-", stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines()[0] == f"Imported: {copy}/{root}/a"
    assert meshctl("kv", "get", f"{copy}/{root}/b/d").stdout == "3\n"
    assert meshctl("kv", "delete", "-recurse", f"{root}/").stdout.strip() == f"Success! Deleted keys with prefix: {root}/"
    assert meshctl("kv", "get", "-recurse", f"{root}/").stdout == ""
    bad = meshctl("kv", "import", "not json")
    assert bad.returncode != 0 and "Cannot unmarshal" in bad.stderr


def test_lock_runs_one_command_at_a_time(tmp_path: Path):
    prefix = uniq("cli-lock")
    journal = tmp_path / "journal"
    # Each command notes its start, works a little, notes its end: under the lock the notes
    # never interleave.
    script = f"echo start >> {journal}; sleep 0.3; echo end >> {journal}"
    results: list[subprocess.CompletedProcess] = []

    def contend():
        results.append(meshctl("lock", prefix, script, timeout=90))

    threads = [threading.Thread(target=contend) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert journal.read_text().splitlines() == ["start", "end"] * 3
    # The lock key is left free, marked as api/lock.go marks it.
    _, entry = consul.Consul(host=HOST, port=PORT, token=TOKEN).kv.get(f"{prefix}/.lock")
    assert "Session" not in entry and entry["Flags"] == 0x2DDCCBC058A50C18
    # The command's exit status is meshctl's.
    assert meshctl("lock", prefix, "exit 3").returncode == 3
