"""The load-and-fault harness (issue 18): real processes, a steady load, faults, and counts.

- `ControlPlane`: `meshctl dev --replicas 2` (two replicas of every control-plane service on one
  PostgreSQL, behind its path-routing gateway, each replaced when it dies as ECS would).
- `Metadata`: the ECS task metadata endpoint (v4) for every task the harness runs. The harness
  plays ECS: it runs each container's health check and writes the result there, sets
  `DesiredStatus` to `STOPPED` before it signals a task's containers, and marks each container
  `STOPPED` once its process exited.
- `Task`: one ECS task of a service: the app (`app.py`, or none for the load's client), mesh-agent
  (`init`, then `run` syncing the ECS health) and mesh-proxy, started in ECS's dependency order and
  stopped in its reverse (app, proxy, agent).
- `Load`: a steady stream of HTTP requests through the client task's upstream listener, each on
  its own connection and each checked (status 200 and the body of the instance that sent
  `X-Served-By`), with its send time, so that a request started after its instance was told to
  stop is counted.

Run as root, each task has its own network namespace on a bridge (`netns.py`), as ECS's awsvpc
mode gives it; otherwise everything is on the host's loopback. Every process is started here and
stopped by its PID.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/reliability"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what, predicate, timeout=60.0, interval=0.1):
    """Polls `predicate` until it returns a true value (returned) or `timeout` passes (raises)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - the last one is reported
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout:.0f} s (last error: {last_error})")


def in_parallel(functions):
    """Calls each of `functions` on a thread of its own; their results, once all returned (the
    first exception is raised, after every call ended)."""
    results = [None] * len(functions)
    errors = []

    def run(index, function):
        try:
            results[index] = function()
        except BaseException as error:  # noqa: BLE001 - raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n, f), daemon=True) for n, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def stop_process(process, grace=30.0):
    """SIGTERM by PID, then SIGKILL after `grace`; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class ControlPlane:
    """`meshctl dev --replicas N` on a free loopback port, with a known management token."""

    def __init__(self, binaries, replicas=2, environment=None, log_path=None):
        self.binaries = binaries
        self.token = str(uuid.uuid4())
        self.address = f"127.0.0.1:{free_port()}"
        self.log_path = log_path or tempfile.mktemp(prefix="reliability-dev-", suffix=".log")
        env = dict(os.environ)
        env.update(environment or {})
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                os.path.join(binaries, "meshctl"), "dev", "--http-addr", self.address,
                "--initial-management-token", self.token, "--replicas", str(replicas),
            ],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        try:
            wait_for("meshctl dev ready", self._ready, timeout=180, interval=0.2)
        except Exception:
            self.stop()
            raise
        self.session = requests.Session()
        self.session.headers["X-Consul-Token"] = self.token
        self.ca_path = re.search(r"dev CA (\S+)\)", self.output).group(1)
        self.distributors = ",".join(
            grpc for name, (_, grpc) in sorted(self.addresses().items()) if name.startswith("config-distributor")
        )

    def _ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"meshctl dev exited {self.process.returncode}:\n{self.output[-4000:]}")
        return "ready: Consul-compatible API" in self.output

    @property
    def output(self):
        with open(self.log_path, "rb") as file:
            return file.read().decode("utf-8", "replace")

    def addresses(self):
        """Each replica's (http, grpc) addresses, by name (`catalog-svc#1`)."""
        return {
            match.group(1): (match.group(2), match.group(3))
            for match in re.finditer(r"meshctl dev: (\S+) ready \(http (\S+), grpc (\S+)\)", self.output)
        }

    def pids(self):
        """Each replica's current PID (the replacement's once one was started), and PostgreSQL's."""
        pids = {}
        for line in self.output.splitlines():
            if match := re.match(r"meshctl dev: (\S+) runs as pid (\d+)", line):
                pids[match.group(1)] = int(match.group(2))
            elif match := re.match(r"meshctl dev: (\S+) replaced and ready \(pid (\d+)\)", line):
                pids[match.group(1)] = int(match.group(2))
            elif match := re.match(r"meshctl dev: PostgreSQL on \S+ \(pid (\d+)\)", line):
                pids["postgres"] = int(match.group(1))
            elif match := re.match(r"meshctl dev: PostgreSQL running again \(pid (\d+)\)", line):
                pids["postgres"] = int(match.group(1))
        return pids

    def url(self, path):
        return f"http://{self.address}{path}"

    def get(self, path, **kwargs):
        return self.session.get(self.url(path), timeout=kwargs.pop("timeout", 30), **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.session.put(self.url(path), json=body, timeout=kwargs.pop("timeout", 30), **kwargs)

    def delete(self, path, **kwargs):
        return self.session.delete(self.url(path), timeout=kwargs.pop("timeout", 30), **kwargs)

    def stop(self):
        status = stop_process(self.process, grace=60)
        self.log.close()
        return status


class Metadata:
    """The ECS task metadata endpoint v4 for every task: `GET /<task id>/task`. With `network`
    (`netns.Network`), it listens on the bridge and the tasks run in namespaces on it."""

    def __init__(self, network=None):
        self.network = network
        self.tasks = {}
        self.lock = threading.Lock()
        harness = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server interface
                parts = self.path.strip("/").split("/")
                with harness.lock:
                    task = harness.tasks.get(parts[0]) if len(parts) == 2 and parts[1] == "task" else None
                    body = json.dumps(task.document()).encode() if task else b"{}"
                self.send_response(200 if task else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        host = network.host if network else "127.0.0.1"
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://{host}:{self.server.server_address[1]}"

    def add(self, state):
        with self.lock:
            self.tasks[state.task_id] = state
        return f"{self.base}/{state.task_id}"

    def change(self, state, body):
        with self.lock:
            body(state)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TaskState:
    """What ECS says of one task: its desired status and each container's status and health."""

    def __init__(self, family, address="127.0.0.1"):
        self.address = address
        self.task_id = uuid.uuid4().hex
        self.family = family
        self.arn = f"arn:aws:ecs:us-east-1:123456789012:task/reliability/{self.task_id}"
        self.desired = "RUNNING"
        self.containers = {
            "app": {"known": "PENDING", "health": "UNKNOWN"},
            "mesh-proxy": {"known": "PENDING", "health": "UNKNOWN"},
            "mesh-agent": {"known": "RUNNING", "health": "HEALTHY"},
        }

    def document(self):
        network = [{"NetworkMode": "awsvpc", "IPv4Addresses": [self.address]}]
        return {
            "Cluster": CLUSTER, "TaskARN": self.arn, "Family": self.family, "Revision": "1",
            "DesiredStatus": self.desired, "KnownStatus": "RUNNING", "LaunchType": "FARGATE",
            "Containers": [
                {
                    "Name": name, "DockerId": f"{self.task_id[:8]}-{name}", "Image": name,
                    "KnownStatus": container["known"], "DesiredStatus": self.desired,
                    "Health": {"status": container["health"]}, "Networks": network,
                }
                for name, container in self.containers.items()
            ],
        }


class Task:
    """One task of `service`: app (unless `app` is False), mesh-agent and mesh-proxy."""

    def __init__(self, mesh, metadata, service, upstreams=(), app=True, warmup=1.0, workdir=None, grpc=False):
        self.mesh = mesh
        self.metadata = metadata
        self.service = service
        # Its own namespace when the harness has a network: the task's address is on the bridge,
        # and the control plane is reached through the bridge's forwarders.
        network = metadata.network
        self.namespace = network.namespace() if network else None
        self.address = self.namespace.address if self.namespace else "127.0.0.1"
        self.control_host = network.host if network else "127.0.0.1"
        self.state = TaskState(service, self.address)
        self.id = self.state.arn
        self.name = f"{service}-{self.state.task_id[:6]}"
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"reliability-{self.name}-")
        self.has_app = app
        self.warmup = warmup
        self.app_port = free_port()
        # A gRPC app answers its health check on a port of its own.
        self.grpc = grpc
        self.health_port = free_port() if grpc else self.app_port
        self.proxy_port = free_port()
        self.admin_port = free_port()
        self.upstreams = [(name, free_port()) for name in upstreams]
        self.stats_path = os.path.join(self.workdir, "app-stats.json")
        self.log_path = os.path.join(self.workdir, "task.log")
        self.processes = {}
        self.stop_requested_at = None
        self.stopped = threading.Event()
        self._health = None

    @property
    def upstream_port(self):
        return self.upstreams[0][1]

    def inside(self, arguments):
        """`arguments` as run in the task's namespace (the same PID: `ip netns exec` execs)."""
        return self.namespace.command(arguments) if self.namespace else arguments

    def call(self, function):
        """`function()` where the task's containers are (its namespace's loopback is theirs)."""
        return self.namespace.call(function) if self.namespace else function()

    def _spawn(self, name, arguments, environment=None):
        env = dict(os.environ)
        env.update(environment or {})
        log = open(self.log_path, "ab")
        try:
            return subprocess.Popen(
                self.inside(arguments), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        finally:
            log.close()

    def _agent_arguments(self):
        port = lambda address: address.rsplit(":", 1)[1]  # noqa: E731
        distributors = ",".join(f"{self.control_host}:{port(address)}" for address in self.mesh.distributors.split(","))
        arguments = [
            "--http-addr", f"{self.control_host}:{port(self.mesh.address)}", "--service", self.service,
            "--port", str(self.app_port),
            "--token-file", os.path.join(self.workdir, "token"), "--proxy-port", str(self.proxy_port),
            "--proxy-bootstrap-file", os.path.join(self.workdir, "proxy.json"),
            "--distributor-addr", distributors, "--distributor-ca-file", self.mesh.ca_path,
            "--proxy-admin-addr", f"127.0.0.1:{self.admin_port}",
        ]
        for name, port in self.upstreams:
            arguments += ["--upstream", f"{name}:{port}"]
        return arguments

    def start(self):
        """Starts the containers in ECS's dependency order and returns once the proxy is ready."""
        binaries = self.mesh.binaries
        endpoint = self.metadata.add(self.state)
        ecs = {"ECS_CONTAINER_METADATA_URI_V4": endpoint, "MESH_LOG_LEVEL": "info"}
        # Each task its own token for its service, as an IAM login gives it (ca-svc limits the
        # leaves signed per token: one token shared by every task would be throttled).
        created = wait_for(
            f"a token for {self.name}",
            lambda: self.mesh.put("/v1/acl/token", {"ServiceIdentities": [{"ServiceName": self.service}]}),
            timeout=30,
            interval=0.5,
        )
        if created.status_code != 200:
            raise RuntimeError(f"a token for {self.name}: {created.status_code} {created.text}")
        initialized = subprocess.run(
            self.inside(
                [os.path.join(binaries, "mesh-agent"), "init", "--token", created.json()["SecretID"]]
                + self._agent_arguments()
            ),
            env=dict(os.environ, **ecs), capture_output=True, timeout=120,
        )
        if initialized.returncode != 0:
            raise RuntimeError(f"mesh-agent init for {self.name}: {initialized.stdout[-2000:]} {initialized.stderr[-2000:]}")
        self.processes["mesh-agent"] = self._spawn(
            "mesh-agent",
            [os.path.join(binaries, "mesh-agent"), "run"] + self._agent_arguments() + [
                "--health-sync-containers", "app,mesh-proxy" if self.has_app else "mesh-proxy",
                "--sync-interval", "1s", "--shutdown-timeout", "60s", "--no-logout", "--api-addr", "127.0.0.1:0",
            ],
            ecs,
        )
        self.processes["mesh-proxy"] = self._spawn(
            "mesh-proxy",
            [
                os.path.join(binaries, "mesh-proxy"), "run", "--bootstrap", os.path.join(self.workdir, "proxy.json"),
                "--public-bind", self.address, "--drain-deadline", "20s", "--connect-timeout", "1s",
            ],
        )
        self.metadata.change(self.state, lambda s: s.containers["mesh-proxy"].update(known="RUNNING"))
        self._health = threading.Thread(target=self._health_checks, daemon=True)
        self._health.start()
        wait_for(f"{self.name}'s proxy ready", lambda: self.call(self._proxy_ready), timeout=120)
        if self.has_app:
            # The app depends on the proxy being HEALTHY, as `meshctl ecs mesh-task` writes it.
            self.processes["app"] = self._spawn(
                "app",
                [
                    sys.executable, os.path.join(HERE, "app.py"), "--listen", f"127.0.0.1:{self.app_port}",
                    "--name", self.name, "--stats", self.stats_path, "--warmup", str(self.warmup),
                ]
                + (["--grpc", "--health-listen", f"127.0.0.1:{self.health_port}"] if self.grpc else []),
            )
            self.metadata.change(self.state, lambda s: s.containers["app"].update(known="RUNNING"))
        else:
            self.metadata.change(self.state, lambda s: s.containers.pop("app"))
        return self

    def admin_get(self, path):
        """`GET path` of the proxy's admin listener (on the task's loopback)."""
        return self.call(lambda: requests.get(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5))

    def _proxy_ready(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _app_healthy(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.health_port}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _health_checks(self):
        """ECS's container health checks, every 250 ms, written to the task's metadata (run in the
        task, as ECS runs them in the container)."""
        if self.namespace:
            netns.enter(self.namespace.name)
        while not self.stopped.is_set():
            proxy = "HEALTHY" if self._proxy_ready() else "UNHEALTHY"
            app = "HEALTHY" if self.has_app and self._app_healthy() else "UNHEALTHY"

            def write(state):
                state.containers["mesh-proxy"]["health"] = proxy
                if "app" in state.containers and state.containers["app"]["known"] == "RUNNING":
                    state.containers["app"]["health"] = app

            self.metadata.change(self.state, write)
            self.stopped.wait(0.25)

    def passing(self):
        """Whether the catalog shows this task's instance passing every check."""
        entries = self.mesh.get(f"/v1/health/service/{self.service}?passing=1").json()
        return any(entry["Service"]["ID"] == self.id for entry in entries)

    def wait_passing(self, timeout=60):
        wait_for(f"{self.name} passing in the catalog", self.passing, timeout=timeout, interval=0.2)
        return self

    def stop(self):
        """ECS's stop: `DesiredStatus` STOPPED, then SIGTERM to each container in reverse dependency
        order (app, proxy, agent), each waited for and marked STOPPED. Returns once all exited."""
        self.stop_requested_at = time.time()
        self.metadata.change(self.state, lambda s: setattr(s, "desired", "STOPPED"))
        for name in ("app", "mesh-proxy", "mesh-agent"):
            process = self.processes.get(name)
            if process is None:
                continue
            stop_process(process, grace=90)
            self.metadata.change(self.state, lambda s, n=name: s.containers.get(n, {}).update(known="STOPPED"))
        self.stopped.set()
        self._release_namespace()
        return self

    def _release_namespace(self):
        if self._health:
            self._health.join(timeout=10)
        if self.namespace:
            self.metadata.network.release(self.namespace)

    def kill(self):
        """Every process SIGKILLed (teardown after a failure)."""
        self.stopped.set()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        self._release_namespace()

    def app_stats(self):
        with open(self.stats_path) as file:
            return json.load(file)

    def signal_app(self, number):
        self.processes["app"].send_signal(number)


class Load:
    """`rate` requests per second over `workers` threads to `127.0.0.1:port`: HTTP/1.1, each on a
    new connection, or (`grpc`) unary calls on one channel (one HTTP/2 connection at a time, which
    the client's proxy sends to one instance until the server's GOAWAY moves it).

    With `namespace`, the load is the client task's app: the HTTP workers run inside the
    namespace, and the gRPC channel (whose sockets grpcio makes on threads of its own) reaches it
    through a forwarder whose connections are made inside."""

    def __init__(self, port, rate=200, workers=8, timeout=10.0, grpc=False, namespace=None):
        self.port = port
        self.namespace = namespace
        self.forwarder = None
        self.call = None
        if grpc:
            import grpc as grpcio

            target = f"127.0.0.1:{port}"
            if namespace:
                self.forwarder = netns.Forwarder(("127.0.0.1", 0), ("127.0.0.1", port), namespace=namespace.name)
                target = "%s:%d" % self.forwarder.address
            self.channel = grpcio.insecure_channel(target)
            self.call = self.channel.unary_unary("/echo.Echo/Say")
        self.rate = rate
        self.workers = workers
        self.timeout = timeout
        self.records = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads = []

    def one(self):
        if self.call is not None:
            return self.one_grpc()
        started = time.time()
        served_by, error = None, None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as connection:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := connection.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ")[1] if lines and len(lines[0].split(" ")) > 1 else "none"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "x-served-by":
                    served_by = value.strip()
            if status != "200" or served_by is None or body != f"hello from {served_by}".encode():
                error = f"status {status}, {len(data)} bytes: {data[:120]!r}"
        except OSError as failure:
            error = f"{type(failure).__name__}: {failure}"
        return started, time.time(), served_by, error

    def one_grpc(self):
        started = time.time()
        served_by, error = None, None
        try:
            answer = self.call(b"hi", timeout=self.timeout).decode()
            if answer.startswith("hello from "):
                served_by = answer.removeprefix("hello from ")
            else:
                error = f"unexpected answer {answer[:60]!r}"
        except Exception as failure:  # noqa: BLE001 - every failure is counted
            code = getattr(failure, "code", None)
            details = getattr(failure, "details", None)
            error = f"{code()}: {details()}" if callable(code) and callable(details) else f"{failure}"[:120]
        return started, time.time(), served_by, error

    def _worker(self, offset):
        if self.namespace and self.call is None:
            netns.enter(self.namespace.name)
        interval = self.workers / self.rate
        next_at = time.monotonic() + offset * interval / self.workers
        while self.running.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at = max(next_at + interval, time.monotonic() - interval)
            record = self.one()
            with self.lock:
                self.records.append(record)

    def start(self):
        self.running.set()
        self.threads = [threading.Thread(target=self._worker, args=(n,), daemon=True) for n in range(self.workers)]
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 5)
        if self.forwarder:
            self.forwarder.close()
        return self

    def wait_requests(self, count, timeout=60):
        wait_for(f"{count} requests sent", lambda: len(self.records) >= count, timeout=timeout)

    def summary(self, tasks):
        """Counts: sent, failed (with the first errors), and started at a task already told to stop
        (its send time after the task's `stop_requested_at`)."""
        stops = {task.name: task.stop_requested_at for task in tasks if task.stop_requested_at}
        with self.lock:
            records = list(self.records)
        failed = [record for record in records if record[3] is not None]
        to_stopping = [
            record for record in records
            if record[2] in stops and record[0] > stops[record[2]]
        ]
        return {
            "sent": len(records),
            "failed": len(failed),
            "errors": [
                f"{time.strftime('%H:%M:%S', time.gmtime(record[0]))}.{int(record[0] * 1000) % 1000:03d} {record[3][:120]}"
                for record in failed[:5]
            ],
            "to_stopping": len(to_stopping),
            "served_by": sorted({record[2] for record in records if record[2]}),
        }


def app_counts(tasks):
    """The apps' own counts (of tasks whose app has exited): requests before ready and after SIGTERM."""
    early = late = served = 0
    for task in tasks:
        if task.has_app and os.path.exists(task.stats_path):
            stats = task.app_stats()
            early += stats["early"]
            late += stats["late"]
            served += stats["served"]
    return {"served": served, "early": early, "late": late}


class Fleet:
    """A server service of `size` tasks behind one client task, with the load running through it.

    `stop()` stops every task in ECS's order (so each app writes its counts) and the load, and
    returns the scenario's figures."""

    def __init__(self, mesh, metadata, service, size=3, rate=150, grpc=False):
        self.mesh = mesh
        self.metadata = metadata
        self.service = service
        self.grpc = grpc
        self.tasks = []
        self.servers = []
        response = mesh.put(
            f"/v1/connect/intentions/exact?source={service}-client&destination={service}",
            {"Action": "allow", "Description": "reliability harness"},
        )
        assert response.status_code == 200, response.text
        self.load = None
        self.lock = threading.Lock()
        try:
            # The first tasks start together (a service's desired count, as ECS starts them).
            in_parallel(
                [self.add for _ in range(size)]
                + [lambda: setattr(self, "client", self._task(f"{service}-client", upstreams=[service], app=False))]
            )
        except BaseException:
            self.kill()
            raise
        self.load = Load(self.client.upstream_port, rate=rate, grpc=grpc, namespace=self.client.namespace)
        self.started = time.monotonic()

    def _task(self, service, **kwargs):
        task = Task(self.mesh, self.metadata, service, **kwargs)
        with self.lock:
            self.tasks.append(task)
        return task.start()

    def add(self):
        """A new server task, returned once the catalog shows it passing."""
        task = self._task(self.service, grpc=self.grpc).wait_passing()
        with self.lock:
            self.servers.append(task)
        return task

    def remove(self, task):
        """Stops `task` in ECS's order; returns how long that took."""
        began = time.monotonic()
        self.servers.remove(task)
        task.stop()
        return time.monotonic() - began

    def replace(self, old):
        """A rolling deploy's step: the new task starts and passes, then the old one stops."""
        new = self.add()
        self.remove(old)
        return new

    def run(self, minimum=300):
        """Starts the load and returns once `minimum` requests went through."""
        self.load.start()
        self.load.wait_requests(minimum)
        return self

    def wait_served_by(self, task, timeout=60):
        """Waits until the load reached `task`; returns how long it took."""
        began = time.monotonic()
        wait_for(
            f"requests reach {task.name}",
            lambda: any(record[2] == task.name for record in list(self.load.records)),
            timeout=timeout,
        )
        return time.monotonic() - began

    def error_lines(self):
        """Lines the tasks' agents and proxies logged at error level (none in a clean run)."""
        lines = []
        for task in self.tasks:
            with open(task.log_path, errors="replace") as log:
                lines += [line.strip() for line in log if " error " in line]
        return lines

    def stop(self):
        # A little more load after the last change, then everything stops in order.
        settle = len(self.load.records) + 150
        self.load.wait_requests(settle)
        self.load.stop()
        stops = sum(1 for task in self.tasks if task.stop_requested_at is not None)
        # The load has stopped: the rest stop together.
        in_parallel([task.stop for task in self.tasks if task.stop_requested_at is None])
        figures = self.load.summary(self.tasks)
        figures.update({f"app_{key}": value for key, value in app_counts(self.tasks).items()})
        figures["stops"] = stops
        figures["stop_to_sigterm_ms"] = max(
            (round(1000 * (task.app_stats()["stopped_at"] - task.stop_requested_at), 1)
             for task in self.tasks if task.has_app and os.path.exists(task.stats_path)),
            default=0,
        )
        errors = self.error_lines()
        figures["error_lines"] = len(errors)
        figures["first_error_lines"] = errors[:3]
        figures["duration_s"] = round(time.monotonic() - self.started, 1)
        figures["namespaces"] = self.metadata.network is not None
        return figures

    def kill(self):
        if self.load:
            self.load.stop()
        for task in self.tasks:
            task.kill()

    def remove_logs(self):
        for task in self.tasks:
            shutil.rmtree(task.workdir, ignore_errors=True)
