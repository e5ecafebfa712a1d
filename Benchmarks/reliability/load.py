#!/usr/bin/env python3
"""A steady load through a proxy's upstream listener, counting failures (docs/RELIABILITY.md).

    python3 Benchmarks/reliability/load.py PORT SECONDS THREADS

Each thread sends `GET /` on a new connection (`Connection: close`, so that every request
picks its endpoint anew, as the demo's client does) until SECONDS have passed. A request fails
on any status other than 200 or any connection error (reset, empty reply, timeout after 5 s).
Prints one line: ok, failed, the rate, and the failures by kind. Loopback only.
"""

from __future__ import annotations

import http.client
import sys
import threading
import time


def main() -> None:
    port, seconds, threads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    counts = {"ok": 0, "failed": 0}
    kinds: dict[str, int] = {}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run() -> None:
        while time.monotonic() < end:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/", headers={"Connection": "close"})
                response = connection.getresponse()
                response.read()
                connection.close()
                kind = None if response.status == 200 else f"status {response.status}"
            except Exception as error:  # noqa: BLE001  (every failure counts, by its kind)
                kind = type(error).__name__
            with lock:
                if kind is None:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    kinds[kind] = kinds.get(kind, 0) + 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = counts["ok"] + counts["failed"]
    print(f"ok={counts['ok']} failed={counts['failed']} rate={total / seconds:.0f}/s failures={kinds}")


if __name__ == "__main__":
    main()
