#!/usr/bin/env bash
# The data-plane benchmark (issue 5): our mesh-proxy pair in static mode beside direct, nginx and
# haproxy mTLS pairs, same run, same load, via ../shared/bench/baseline.sh (start_custom_pair).
#
#   Benchmarks/proxy-pair.sh                 # full run (REPS=3, ~10 minutes)
#   REPS=1 DURATION=5 Benchmarks/proxy-pair.sh
#
# mesh-proxy is built in release mode with a static Swift standard library (as the container
# image ships it: fewer shared pages mapped, lower RSS). One event-loop thread per proxy, as
# nginx runs one worker (WORKERS=1). Results land in $RESULTS_DIR (printed at the end).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
baseline=${BASELINE:-$here/../shared/bench/baseline.sh}
[ -f "$baseline" ] || { echo "baseline.sh not found at $baseline (set BASELINE=...)" >&2; exit 1; }
cd "$here"
swift build -c release --product mesh-proxy --static-swift-stdlib --scratch-path .build-static >&2
proxy=$here/.build-static/release/mesh-proxy
threads=${PROXY_THREADS:-${WORKERS:-1}}
pki='--cert $MESH_BENCH_PKI/CERT.crt --key $MESH_BENCH_PKI/CERT.key --ca $MESH_BENCH_PKI/ca.crt'
export EXTRA_PAIR_NAME=${EXTRA_PAIR_NAME:-mesh-proxy-mtls}
export EXTRA_PAIR_OUT_CMD="exec $proxy outbound --listen 127.0.0.1:\$MESH_BENCH_OUT_PORT \
  --upstream 127.0.0.1:\$MESH_BENCH_IN_PORT --expect-identity spiffe://mesh.local/ns/default/dc/dc1/svc/server \
  ${pki//CERT/client} --admin-addr 127.0.0.1:19301 --threads $threads"
export EXTRA_PAIR_IN_CMD="exec $proxy inbound --listen 127.0.0.1:\$MESH_BENCH_IN_PORT \
  --app 127.0.0.1:\$MESH_BENCH_APP_PORT --service server --allow client --trust-domain mesh.local \
  ${pki//CERT/server} --admin-addr 127.0.0.1:19302 --threads $threads"
exec bash "$baseline"
