"""Sessions and locks through py-consul against `meshctl dev`: a session made on the dev address
binds to the dev node with `serfHealth`; acquire/release and LockIndex; destroy releases (or, with
Behavior "delete", deletes) what it held and starts the lock-delay; a linked check turning
critical ends the session; and Consul's lock recipe with competing clients, where exactly one
holds the lock at any time.

Needs CONSUL_HTTP_ADDR and MESH_TOKEN (the dev server's management token).
"""

from __future__ import annotations

import json
import threading
import time

import consul
import pytest
import requests

from test_py_consul import BASE_URL, HOST, PORT, RAW_HEADERS, TOKEN, uniq

pytestmark = pytest.mark.skipif(not TOKEN, reason="needs MESH_TOKEN")


def _client(token: str | None = TOKEN) -> consul.Consul:
    return consul.Consul(host=HOST, port=PORT, token=token)


def _dev_node() -> str:
    return _client().agent.self()["Config"]["NodeName"]



def _run_all(threads: list[threading.Thread], errors: list) -> None:
    """Starts the contenders, waits for every one (generously), and fails on any error they met."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


def test_a_session_binds_to_the_dev_node():
    c = _client()
    sid = c.session.create(name="tour")
    _, info = c.session.info(sid)
    assert info["ID"] == sid
    assert info["Name"] == "tour"
    assert info["Node"] == _dev_node()
    assert info["NodeChecks"] == ["serfHealth"]
    assert info["Behavior"] == "release"
    assert info["LockDelay"] == 15_000_000_000
    assert sid in [s["ID"] for s in c.session.list()[1]]
    assert sid in [s["ID"] for s in c.session.node(_dev_node())[1]]
    assert c.session.destroy(sid) is True
    assert c.session.info(sid)[1] is None
    # Destroying again succeeds and changes nothing.
    assert c.session.destroy(sid) is True


def test_renew_and_bad_input():
    c = _client()
    sid = c.session.create(ttl=30)
    renewed = c.session.renew(sid)
    assert renewed["ID"] == sid and renewed["TTL"] == "30s"
    assert c.session.destroy(sid)
    with pytest.raises(consul.NotFound):
        c.session.renew(sid)
    before = len(c.session.list()[1])
    for body, message in [
        ('{"TTL": "5s"}', "Invalid Session TTL"),
        ('{"TTL": "25h"}', "Invalid Session TTL"),
        ('{"TTL": "soon"}', "Session TTL 'soon' invalid"),
        ('{"Behavior": "explode"}', "Invalid Behavior setting 'explode'"),
        ('{"Node": "no-such-node"}', "Missing node registration"),
        ('{"NodeChecks": ["no-such-check"]}', "Missing check 'no-such-check' registration"),
        ("[1, 2]", "Request decode failed"),
        ("{", "Request decode failed"),
    ]:
        answer = requests.put(f"{BASE_URL}/v1/session/create", data=body, headers=RAW_HEADERS, timeout=10)
        assert answer.status_code == 400, body
        assert message in answer.text, (body, answer.text)
    assert len(c.session.list()[1]) == before
    # Anonymous callers may not create or destroy sessions.
    anonymous = _client(None)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.session.create()
    held = c.session.create()
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.session.destroy(held)
    assert c.session.info(held)[1] is not None
    assert c.session.destroy(held)


def test_acquire_release_and_lock_index():
    c = _client()
    key = uniq("lock")
    first, second = c.session.create(lock_delay=0), c.session.create(lock_delay=0)
    assert c.kv.put(key, "a", acquire=first) is True
    _, entry = c.kv.get(key)
    assert entry["Session"] == first and entry["LockIndex"] == 1
    # The holder may acquire again (LockIndex stays); another session may not.
    assert c.kv.put(key, "b", acquire=first) is True
    assert c.kv.get(key)[1]["LockIndex"] == 1
    assert c.kv.put(key, "c", acquire=second) is False
    assert c.kv.get(key)[1]["Value"] == b"b"
    # Only the holder releases; release keeps LockIndex.
    assert c.kv.put(key, "d", release=second) is False
    assert c.kv.put(key, "e", release=first) is True
    _, released = c.kv.get(key)
    assert "Session" not in released and released["LockIndex"] == 1 and released["Value"] == b"e"
    assert c.kv.put(key, "f", acquire=second) is True
    assert c.kv.get(key)[1]["LockIndex"] == 2
    for sid in (first, second):
        assert c.session.destroy(sid)


def test_destroy_releases_and_starts_the_lock_delay():
    c = _client()
    key = uniq("delay")
    holder = c.session.create(lock_delay=2)
    waiter = c.session.create(lock_delay=0)
    assert c.kv.put(key, "held", acquire=holder)
    assert c.session.destroy(holder)
    _, entry = c.kv.get(key)
    assert "Session" not in entry and entry["Value"] == b"held"
    # Within the lock-delay nobody acquires; afterwards the waiter does.
    started = time.monotonic()
    assert c.kv.put(key, "mine", acquire=waiter) is False
    deadline = started + 30
    while not c.kv.put(key, "mine", acquire=waiter):
        assert time.monotonic() < deadline
        c.kv.get(key, index=c.kv.get(key)[0], wait="250ms")
    assert time.monotonic() - started >= 1.5
    assert c.kv.get(key)[1]["Session"] == waiter
    assert c.session.destroy(waiter)


def test_behavior_delete_removes_the_keys():
    c = _client()
    key = uniq("ephemeral")
    sid = c.session.create(behavior="delete", lock_delay=0)
    assert c.kv.put(key, "here while I live", acquire=sid)
    assert c.session.destroy(sid)
    assert c.kv.get(key)[1] is None


def test_a_critical_check_ends_its_sessions():
    c = _client()
    name = uniq("sess-svc")
    check_id = f"service:{name}"
    assert c.agent.service.register(name, service_id=name, check=consul.Check.ttl("60s"))
    try:
        c.agent.check.ttl_pass(check_id)
        sid = c.session.create(checks=["serfHealth", check_id], lock_delay=0)
        key = uniq("guarded")
        assert c.kv.put(key, "v", acquire=sid)
        index, _ = c.kv.get(key)
        c.agent.check.ttl_fail(check_id, notes="down")
        # The release wakes a blocking reader of the key.
        _, entry = c.kv.get(key, index=index, wait="30s")
        assert "Session" not in entry
        assert c.session.info(sid)[1] is None
        # A session cannot be made on a critical check.
        with pytest.raises(consul.ConsulException):
            c.session.create(checks=[check_id])
    finally:
        c.agent.service.deregister(name)


def test_lock_recipe_with_competing_clients():
    """Consul's lock recipe (api/lock.go): wait on the key with a blocking query, acquire with a
    session, hold, release. Four clients take the lock 3 times each; at no moment do two hold it."""
    key = uniq("recipe")
    holders = 0
    peak = 0
    guard = threading.Lock()
    taken: list[int] = []
    errors: list[BaseException] = []

    def contender():
        try:
            c = _client()
            sid = c.session.create(name="Consul API Lock", ttl=15, lock_delay=0)
            for _ in range(3):
                while True:
                    index, entry = c.kv.get(key)
                    if entry is None or "Session" not in entry:
                        if c.kv.put(key, sid, acquire=sid, flags=0x2DDCCBC058A50C18):
                            break
                        continue
                    c.kv.get(key, index=index, wait="15s")
                nonlocal holders, peak
                with guard:
                    holders += 1
                    peak = max(peak, holders)
                _, held = c.kv.get(key)
                assert held["Session"] == sid
                taken.append(held["LockIndex"])
                with guard:
                    holders -= 1
                assert c.kv.put(key, sid, release=sid, flags=0x2DDCCBC058A50C18)
            c.session.destroy(sid)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    _run_all([threading.Thread(target=contender) for _ in range(4)], errors)
    assert peak == 1
    # Every acquisition moved LockIndex on: 12 holds, 12 distinct lock indexes.
    assert sorted(taken) == list(range(1, 13))


SEMAPHORE_FLAG_VALUE = 0xE0F69A2BAA414DE0


def test_semaphore_recipe_admits_at_most_its_limit():
    """Consul's semaphore recipe (api/semaphore.go): each contender holds `<prefix>/<session>`
    with a Behavior-delete session, and joins the holders in `<prefix>/.lock` by check-and-set,
    pruning holders whose contender key is gone. Five clients, limit 2; two of them die holding
    a slot (their sessions destroyed, never released): the others can go on only by pruning
    them, which works only if ending a Behavior-delete session deletes its contender key."""
    prefix = uniq("semaphore")
    limit = 2
    holding = 0
    peak = 0
    guard = threading.Lock()
    errors: list[BaseException] = []
    done = 0

    def acquire(c: consul.Consul, sid: str) -> None:
        assert c.kv.put(f"{prefix}/{sid}", "", acquire=sid, flags=SEMAPHORE_FLAG_VALUE)
        index = None
        while True:
            index, entries = c.kv.get(f"{prefix}/", recurse=True, index=index, wait="15s")
            entries = entries or []
            lock = next((e for e in entries if e["Key"] == f"{prefix}/.lock"), None)
            live = {e["Key"].rsplit("/", 1)[1] for e in entries if e.get("Session")}
            state = json.loads(lock["Value"]) if lock else {"Limit": limit, "Holders": {}}
            holders = {h: True for h in state["Holders"] if h in live}
            if len(holders) >= limit:
                continue
            holders[sid] = True
            cas = lock["ModifyIndex"] if lock else 0
            body = json.dumps({"Limit": limit, "Holders": holders})
            if c.kv.put(f"{prefix}/.lock", body, cas=cas, flags=SEMAPHORE_FLAG_VALUE):
                return
            index = None

    def release(c: consul.Consul, sid: str) -> None:
        while True:
            _, lock = c.kv.get(f"{prefix}/.lock")
            state = json.loads(lock["Value"])
            state["Holders"].pop(sid, None)
            if c.kv.put(f"{prefix}/.lock", json.dumps(state), cas=lock["ModifyIndex"], flags=SEMAPHORE_FLAG_VALUE):
                break
        c.kv.delete(f"{prefix}/{sid}")

    def contender(dies: bool):
        nonlocal holding, peak, done
        try:
            c = _client()
            sid = c.session.create(name="Consul API Semaphore", behavior="delete", ttl=15, lock_delay=0)
            for _ in range(1 if dies else 2):
                acquire(c, sid)
                with guard:
                    holding += 1
                    peak = max(peak, holding)
                with guard:
                    holding -= 1
                if dies:
                    # Gone without releasing: the session ends, its contender key is deleted.
                    c.session.destroy(sid)
                    return
                release(c, sid)
            c.session.destroy(sid)
            with guard:
                done += 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    _run_all([threading.Thread(target=contender, args=(n < 2,)) for n in range(5)], errors)
    assert done == 3
    assert 1 <= peak <= limit
    _, lock = _client().kv.get(f"{prefix}/.lock")
    assert json.loads(lock["Value"])["Holders"] == {} or all(
        _client().kv.get(f"{prefix}/{holder}")[1] is None for holder in json.loads(lock["Value"])["Holders"]
    )
