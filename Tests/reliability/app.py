"""The application the reliability harness deploys: a small HTTP server that knows when it is not
ready yet and when it has been told to stop, and counts the requests that reach it then.

    python3 app.py --listen 127.0.0.1:PORT --name ID --stats FILE [--warmup SECONDS]

- `GET /health` answers 503 until the warm-up has passed (the container's health check, as ECS
  runs it), then 200; 503 again once SIGTERM arrived.
- `GET /` answers 200 `hello from ID` with `X-Served-By: ID`. A request that arrives before the
  warm-up ended, or on a connection accepted after the listener closed, is counted (`early`,
  `late`): the mesh should have sent it elsewhere. It is still answered (a real app would), so the load generator sees no failure from it.
- SIGTERM: the connections already queued are taken, then the listening socket closes (new
  connections are refused: the proxy in front says so to the caller, which sends the request
  elsewhere); requests in flight finish; then the stats are written and the process exits 0.
- SIGUSR1: `GET /` and `/health` answer 500 from now on (a failed instance). SIGUSR2: neither
  answers any more (a hung instance).

The stats file is JSON: `{"served": N, "early": N, "late": N, "stopped_at": T, "late_first": T}`,
times from `time.time()`.
"""

import argparse
import json
import os
import signal
import socket
import threading
import time


class App:
    def __init__(self, name, warmup):
        self.name = name
        self.started = time.time()
        self.ready_at = self.started + warmup
        self.stopped_at = None
        # When the listener closed (after the queued connections were taken).
        self.closed_at = None
        self.mode = "ok"
        self.lock = threading.Lock()
        self.counts = {"served": 0, "early": 0, "late": 0}
        self.late_first = None
        self.in_flight = 0
        self.idle = threading.Condition(self.lock)

    def answer(self, path, accepted_at):
        now = accepted_at
        if path == "/health":
            if self.mode == "hang":
                time.sleep(3600)
            if self.mode == "fail":
                return 500, b"failing"
            healthy = now >= self.ready_at and self.stopped_at is None
            return (200, b"ok") if healthy else (503, b"not ready")
        with self.lock:
            self.counts["served"] += 1
            if now < self.ready_at:
                self.counts["early"] += 1
            if self.closed_at is not None and accepted_at > self.closed_at:
                self.counts["late"] += 1
                if self.late_first is None:
                    self.late_first = now
        if self.mode == "fail":
            return 500, b"failing on purpose"
        if self.mode == "hang":
            time.sleep(3600)
        return 200, b"hello from " + self.name.encode()

    def handle(self, connection, accepted_at):
        with self.lock:
            self.in_flight += 1
        try:
            connection.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                data += chunk
                if len(data) > 65536:
                    return
            line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = line[1] if len(line) > 1 else "/"
            status, body = self.answer(path, accepted_at)
            reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
                f"X-Served-By: {self.name}\r\nConnection: close\r\n\r\n"
            )
            connection.sendall(head.encode() + body)
        except OSError:
            pass
        finally:
            connection.close()
            with self.lock:
                self.in_flight -= 1
                self.idle.notify_all()

    def stats(self):
        with self.lock:
            return dict(self.counts, stopped_at=self.stopped_at, late_first=self.late_first)


def write_stats(app, path):
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        json.dump(app.stats(), file)
    os.replace(temporary, path)


QUIET = 0.5
QUIET_LIMIT = 10.0


def serve_grpc(app, arguments):
    """`--grpc`: `/echo.Echo/Say` answers `hello from ID` (raw bytes, no schema) on `--listen`,
    and the HTTP health check on `--health-listen`. SIGTERM: the health check fails at once; calls
    go on being answered until none arrived for `QUIET` seconds (the mesh has stopped sending,
    at most `QUIET_LIMIT`), then gRPC's graceful stop (GOAWAY: the client opens a new connection,
    which its proxy sends elsewhere; calls in flight finish).

    The wait is grpcio's need, not the mesh's: its stop answers CANCELLED to calls the transport
    took but no handler had picked up yet (grpc/grpc#41785, open), calls already on their way
    when SIGTERM came. Seen through the proxy as a trailers-only `grpc-status: 1` from the app
    (session 15). Calls answered after SIGTERM are counted (`late`)."""
    import grpc
    from concurrent import futures

    last_call = [time.monotonic()]

    def say(_request, _context):
        now = time.time()
        with app.lock:
            last_call[0] = time.monotonic()
            app.counts["served"] += 1
            if now < app.ready_at:
                app.counts["early"] += 1
            if app.stopped_at is not None:
                app.counts["late"] += 1
                if app.late_first is None:
                    app.late_first = now
        return b"hello from " + app.name.encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.method_handlers_generic_handler("echo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(arguments.listen)
    server.start()
    stop = threading.Event()
    health = serve_health(app, arguments.health_listen)

    def terminate(_signum, _frame):
        app.stopped_at = time.time()
        stop.set()

    signal.signal(signal.SIGTERM, terminate)
    while not stop.wait(0.05):
        pass
    stopping = time.monotonic()
    while time.monotonic() - stopping < QUIET_LIMIT:
        with app.lock:
            quiet = time.monotonic() - max(last_call[0], stopping)
        if quiet >= QUIET:
            break
        time.sleep(0.05)
    server.stop(grace=10).wait()
    health.shutdown()
    write_stats(app, arguments.stats)


def serve_health(app, listen):
    """`GET /health` on its own port (the gRPC app's container health check)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server interface
            status, body = app.answer("/health", time.time())
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

        def log_request(self, *_):
            pass

    host, port = listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Health)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--grpc", action="store_true")
    parser.add_argument("--health-listen")
    arguments = parser.parse_args()
    host, port = arguments.listen.rsplit(":", 1)
    app = App(arguments.name, arguments.warmup)
    if arguments.grpc:
        serve_grpc(app, arguments)
        return
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(1024)
    stop = threading.Event()

    def terminate(_signum, _frame):
        app.stopped_at = time.time()
        stop.set()

    def fail(_signum, _frame):
        app.mode = "fail"

    def hang(_signum, _frame):
        app.mode = "hang"

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGUSR1, fail)
    signal.signal(signal.SIGUSR2, hang)
    # The signals go to the main thread only (the threads started below inherit the mask), so
    # that SIGTERM interrupts its wait at once: the listener closes within a millisecond.
    signals = {signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)

    def accept():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            # Taken from the queue while stopping: in flight, as the main thread's sweep below.
            accepted_at = app.stopped_at if app.stopped_at is not None and app.closed_at is None else time.time()
            threading.Thread(target=app.handle, args=(connection, accepted_at), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    # Short waits all the same: Python runs a handler only once the main thread runs again (an
    # unbounded wait, with SIGTERM delivered to another thread, ignored it until killed).
    while not stop.wait(0.05):
        pass
    # As a careful server stops: the connections already queued (their handshake done, the
    # caller's proxy told that the app took them) are taken and answered, then the listener
    # closes, refusing the next ones. Closing it at once would reset the queued ones.
    listener.setblocking(False)
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            break
        connection.setblocking(True)
        threading.Thread(target=app.handle, args=(connection, app.stopped_at), daemon=True).start()
    app.closed_at = time.time()
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()
    acceptor.join(timeout=5)
    with app.lock:
        app.idle.wait_for(lambda: app.in_flight == 0 or app.mode == "hang", timeout=30)
    write_stats(app, arguments.stats)


if __name__ == "__main__":
    main()
