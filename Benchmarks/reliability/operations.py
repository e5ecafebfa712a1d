"""The long runs of issue 18's scenarios (docs/RELIABILITY.md): Tests/reliability with every
operation repeated SCALE times, then a Markdown table of what each scenario measured.

    swift build && python3 Benchmarks/reliability/operations.py [SCALE] [pytest -k expression]

The bounded versions (SCALE 1) run in ./scripts/test.sh.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    scale = sys.argv[1] if len(sys.argv) > 1 else "5"
    selection = ["-k", sys.argv[2]] if len(sys.argv) > 2 else []
    binaries = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    report = tempfile.mktemp(prefix="reliability-report-", suffix=".jsonl")
    environment = dict(os.environ, MESH_BIN=binaries, MESH_RELIABILITY_SCALE=scale, MESH_RELIABILITY_REPORT=report)
    status = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "Tests/reliability"] + selection, cwd=ROOT, env=environment
    ).returncode
    print(f"\nscale {scale} (each operation {scale}x), load 150 requests/s, each on its own connection\n")
    print("| scenario | duration (s) | requests | failed | after SIGTERM | before ready | sent after STOPPED (stops) | error log lines |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    if os.path.exists(report):
        with open(report) as file:
            for line in file:
                figures = json.loads(line)
                print(
                    f"| {figures['scenario']} | {figures['duration_s']} | {figures['sent']:,} | {figures['failed']} "
                    f"| {figures['app_late']} | {figures['app_early']} | {figures['to_stopping']} ({figures['stops']}) "
                    f"| {figures['error_lines']} |"
                )
        os.unlink(report)
    sys.exit(status)


if __name__ == "__main__":
    main()
