"""Network namespaces for the harness's tasks (root only), as ECS's awsvpc mode gives each task.

- `Network`: a bridge on the host with a private /16 that nothing else on the host routes, and
  forwarders on the bridge's address to the control plane's gateway and config distributors
  (which stay on the host's loopback, as `meshctl dev --demo` does with its namespaces).
- `Namespace`: one task's namespace, on the bridge through a veth pair. Inside it the app, the
  agent's API and the proxy's admin listen on the namespace's own loopback, unreachable from the
  host and from other tasks; the proxy's public listener is on the namespace's address, which
  the task metadata reports and so the catalog shows.

Only this harness's bridge and namespaces are created, and the host's other interfaces and
routes are left as they are; everything is deleted when the run ends.
"""

import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """Whether namespaces can be made here (root, `ip`), unless MESH_RELIABILITY_NETNS=0."""
    return os.environ.get("MESH_RELIABILITY_NETNS", "1") != "0" and os.geteuid() == 0 and shutil.which("ip")


def ip(*arguments):
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=30)


def enter(name):
    """Moves the calling thread (only it) into namespace `name`: sockets it makes are made there."""
    descriptor = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(descriptor, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
    finally:
        os.close(descriptor)


def _pump(source, target):
    """Copies `source` to `target` until end of stream, then half-closes `target`."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for action in (lambda: target.shutdown(socket.SHUT_WR), source.close):
            try:
                action()
            except OSError:
                pass


class Forwarder:
    """Accepts on `listen` (host, port) and relays each connection to `target`, byte for byte.
    With `namespace`, the connection to `target` is made inside that namespace."""

    def __init__(self, listen, target, namespace=None):
        self.target = target
        self.namespace = namespace
        self.server = socket.create_server(listen, reuse_port=False)
        self.address = self.server.getsockname()[:2]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        if self.namespace:
            # The listening socket was made before; only the outbound ones are made in there.
            enter(self.namespace)
        while True:
            try:
                inbound, _ = self.server.accept()
            except OSError:
                return
            try:
                outbound = socket.create_connection(self.target, timeout=5)
                outbound.settimeout(None)
            except OSError:
                inbound.close()
                continue
            for source, target in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self):
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()


class Namespace:
    """One task's namespace: `address` on the bridge, its loopback its own."""

    def __init__(self, network, index):
        self.name = f"mr-{network.tag}-{index}"
        self.host_interface = f"mr{network.tag}h{index}"
        self.peer_interface = f"mr{network.tag}n{index}"
        self.address = str(network.subnet.network_address + index + 1)
        try:
            ip("netns", "add", self.name)
            ip("link", "add", self.host_interface, "type", "veth", "peer", "name", self.peer_interface)
            ip("link", "set", self.peer_interface, "netns", self.name)
            ip("link", "set", self.host_interface, "master", network.bridge)
            ip("link", "set", self.host_interface, "up")
            ip("-n", self.name, "addr", "add", f"{self.address}/{network.subnet.prefixlen}", "dev", self.peer_interface)
            ip("-n", self.name, "link", "set", self.peer_interface, "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.delete()
            raise

    def command(self, arguments):
        """`arguments` run inside (`ip netns exec` execs the program: the PID is the program's)."""
        return ["ip", "netns", "exec", self.name, *arguments]

    def call(self, function):
        """`function()` on a thread inside the namespace; its result, or its exception."""
        outcome = {}

        def run():
            try:
                enter(self.name)
                outcome["value"] = function()
            except BaseException as error:  # noqa: BLE001 - handed back to the caller
                outcome["error"] = error

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def delete(self):
        # The veth pair goes with the namespace; the host's end is deleted too if it was left.
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "delete", self.host_interface], capture_output=True, timeout=30)


class Network:
    """The bridge, the forwarders to the control plane (`ports`: the host-loopback ports the tasks
    call) and the namespaces made on it."""

    def __init__(self, ports):
        self.tag = str(os.getpid() % 100000)
        self.bridge = f"mr{self.tag}br"
        self.subnet = self._free_subnet()
        self.host = str(self.subnet.network_address + 1)
        self.forwarders = []
        self.namespaces = []
        self.count = 0
        self.lock = threading.Lock()
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.host}/{self.subnet.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for port in ports:
                self.forwarders.append(Forwarder((self.host, port), ("127.0.0.1", port)))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _free_subnet():
        """A /16 in 10.240–10.254 that no address or route of this host overlaps."""
        routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
        taken = []
        for line in routes.splitlines():
            first = line.split()[0] if line.split() else ""
            if first[0:1].isdigit():
                try:
                    taken.append(ipaddress.ip_network(first, strict=False))
                except ValueError:
                    pass
        for second in range(240, 255):
            candidate = ipaddress.ip_network(f"10.{second}.0.0/16")
            if not any(candidate.overlaps(network) for network in taken):
                return candidate
        raise RuntimeError("no free 10.x.0.0/16 for the harness's bridge")

    def namespace(self):
        with self.lock:
            self.count += 1
            index = self.count
        namespace = Namespace(self, index)
        with self.lock:
            self.namespaces.append(namespace)
        return namespace

    def release(self, namespace):
        namespace.delete()
        with self.lock:
            if namespace in self.namespaces:
                self.namespaces.remove(namespace)

    def close(self):
        for forwarder in self.forwarders:
            forwarder.close()
        for namespace in list(self.namespaces):
            self.release(namespace)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, timeout=30)
