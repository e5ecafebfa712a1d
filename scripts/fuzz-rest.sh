#!/usr/bin/env bash
# Long schemathesis run of the REST API (docs/openapi.yaml) against a private `meshctl dev`.
#
# Starts its own `meshctl dev` (ACLs on, default deny) on a free loopback port from the
# binaries in $MESH_BIN (default: `swift build --show-bin-path`; it builds nothing), then:
#   1. makes a node `fuzz-node` and a narrow token (service identity `fuzz`);
#   2. dumps every table of the dev PostgreSQL, fuzzes with the narrow token (every other
#      request steered at service `fuzz` / node `fuzz-node`), dumps again and prints the rows
#      that differ: only rows of service `fuzz` should;
#   3. fuzzes with the management token;
#   4. repeats rounds (new seeds, both tokens) until FUZZ_MIN_REQUESTS requests were sent;
#   5. prints the requests by token and status, every 5xx / network error by operation
#      (with a curl command each in $FUZZ_OUT/failures.jsonl), and any crash in the log.
# Exit status 1 when a 5xx, a network error (hang or crash) or a crash was seen.
#
# Operations tagged `local-agent` (mesh-agent's API beside an app) and `agent-registration` (a
# registered check would be probed at any address) are not fuzzed; the first are
# not behind meshctl dev's address. Every request goes to 127.0.0.1 only.
#
# Environment: MESH_BIN, FUZZ_MIN_REQUESTS (10000), FUZZ_MAX_EXAMPLES (100 per operation and
# round), FUZZ_SEED (1), FUZZ_WORKERS (2), FUZZ_MAX_ROUNDS (8), FUZZ_REQUEST_TIMEOUT (15 s),
# FUZZ_AVOID_KNOWN_CRASHES (0; 1: skip the requests listed in KNOWN_CRASHES of
# Tests/consul-compat/test_rest_fuzz.py, so one known crash does not end the run),
# FUZZ_OUT (a directory for logs and reports; default a new temporary one, kept).
set -euo pipefail

cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$PWD"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

MESH_BIN="${MESH_BIN:-$(swift build --show-bin-path)}"
MIN_REQUESTS="${FUZZ_MIN_REQUESTS:-10000}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
SEED="${FUZZ_SEED:-1}"
WORKERS="${FUZZ_WORKERS:-2}"
MAX_ROUNDS="${FUZZ_MAX_ROUNDS:-8}"
REQUEST_TIMEOUT="${FUZZ_REQUEST_TIMEOUT:-15}"
export FUZZ_AVOID_KNOWN_CRASHES="${FUZZ_AVOID_KNOWN_CRASHES:-0}"
OUT="${FUZZ_OUT:-$(mktemp -d /tmp/fuzz-rest.XXXXXX)}"
mkdir -p "$OUT"
LOG="$OUT/meshctl.log"
STATS="$OUT/stats.tsv"
FAILURES="$OUT/failures.jsonl"
: >"$STATS"
: >"$FAILURES"
printf '[cache]\nenabled = false\n' >"$OUT/schemathesis.toml"

[ -x "$MESH_BIN/meshctl" ] || { echo "no meshctl in $MESH_BIN (set MESH_BIN)" >&2; exit 2; }
if ! python3 -c 'import schemathesis, yaml, requests' 2>/dev/null; then
    echo "==> installing schemathesis"
    python3 -m pip install --quiet schemathesis pyyaml requests ||
        python3 -m pip install --quiet --break-system-packages schemathesis pyyaml requests
fi
command -v psql >/dev/null || echo "psql not found: the database comparison will be skipped" >&2

# --- meshctl dev ---------------------------------------------------------------

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
TOKEN="$(python3 -c 'import uuid; print(uuid.uuid4())')"
BASE="http://127.0.0.1:$PORT"
MESHCTL_PID=""

trap stop_meshctl EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting $MESH_BIN/meshctl dev on 127.0.0.1:$PORT (log: $LOG)"
"$MESH_BIN/meshctl" dev --http-addr "127.0.0.1:$PORT" --initial-management-token "$TOKEN" </dev/null >"$LOG" 2>&1 &
MESHCTL_PID=$!
ready=""
for _ in $(seq 600); do
    if grep -q 'ready: Consul-compatible API' "$LOG"; then ready=1; break; fi
    kill -0 "$MESHCTL_PID" 2>/dev/null || break
    sleep 0.2
done
[ -n "$ready" ] || { echo "meshctl dev did not become ready; log:" >&2; tail -50 "$LOG" >&2; exit 2; }
DB_URL="$(grep -o 'mesh.database=postgres://[^ ]*' "$LOG" | head -1 | sed 's/^mesh.database=//')"

api() { # METHOD PATH TOKEN [BODY]
    curl -sS --fail-with-body -X "$1" "$BASE$2" -H "X-Consul-Token: $3" ${4:+-d "$4"}
}
api PUT /v1/catalog/register "$TOKEN" '{"Node":"fuzz-node","Address":"10.0.0.1"}' >/dev/null
NARROW="$(api PUT /v1/acl/token "$TOKEN" \
    '{"Description":"fuzz-rest narrow token","ServiceIdentities":[{"ServiceName":"fuzz"}]}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["SecretID"])')"

# --- helpers -------------------------------------------------------------------

# db.py dump URL FILE | db.py diff BEFORE AFTER: every table's rows (as JSON), and what changed.
db() {
    python3 - "$@" <<'PY'
import json, subprocess, sys

def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.split("\n") if line]

if sys.argv[1] == "dump":
    url, path = sys.argv[2], sys.argv[3]
    tables = psql(url, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                       "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                       "ORDER BY 1")
    dump = {}
    for table in tables:
        schema, name = table.split(".", 1)
        keys = psql(url, "SELECT kcu.column_name FROM information_schema.table_constraints tc "
                         "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                         f"WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = '{schema}' "
                         f"AND tc.table_name = '{name}' ORDER BY kcu.ordinal_position")
        rows = psql(url, f"SELECT row_to_json(t)::text FROM {schema}.{name} t")
        dump[table] = {"keys": keys, "rows": sorted(rows)}
    json.dump(dump, open(path, "w"))
    print(f"{len(tables)} tables, {sum(len(t['rows']) for t in dump.values())} rows")
else:
    before, after = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
    outside = 0
    def mentions_fuzz(row):
        values = json.dumps(row)
        return '"fuzz"' in values or '"fuzz-sidecar-proxy"' in values or "/svc/fuzz" in values
    for table in sorted(set(before) | set(after)):
        old = {r for r in before.get(table, {}).get("rows", [])}
        new = {r for r in after.get(table, {}).get("rows", [])}
        if old == new:
            continue
        keys = (after.get(table) or before.get(table))["keys"]
        key = lambda text: tuple(json.loads(text).get(k) for k in keys) if keys else text
        removed = {key(r): json.loads(r) for r in old - new}
        added = {key(r): json.loads(r) for r in new - old}
        print(f"  {table}: {len(added.keys() - removed.keys())} added, "
              f"{len(removed.keys() - added.keys())} removed, {len(added.keys() & removed.keys())} changed")
        for k in sorted(added.keys() | removed.keys(), key=str):
            was, now = removed.get(k), added.get(k)
            fuzz = mentions_fuzz(was or {}) or mentions_fuzz(now or {})
            outside += not fuzz
            if was and now:
                changed = {c: (was.get(c), now.get(c)) for c in now if was.get(c) != now.get(c)}
                text = f"changed {dict(zip(keys, k)) if keys else ''}: {changed}"
            else:
                text = ("added " if now else "removed ") + json.dumps(now or was)
            print(("    [fuzz]  " if fuzz else "    [OTHER] ") + text[:400])
    print(f"  rows differing outside service fuzz: {outside}")
PY
}

alive() { kill -0 "$MESHCTL_PID" 2>/dev/null; }
requests_sent() { grep -vc '^avoided:' "$STATS" || true; }

ROUND=0
fuzz_round() { # LABEL TOKEN SEED [steer]
    local label="$1" token="$2" seed="$3" steer="${4:-}"
    ROUND=$((ROUND + 1))
    local before after report="$OUT/round-$ROUND-$label.txt"
    before="$(requests_sent)"
    echo "==> round $ROUND: $label token, seed $seed, up to $MAX_EXAMPLES examples per operation${steer:+, steered at service fuzz}"
    (
        # In $OUT, with schemathesis's cache off: nothing is written into the work tree.
        cd "$OUT"
        env PYTHONPATH="$ROOT/Tests/consul-compat" SCHEMATHESIS_HOOKS=test_rest_fuzz \
            FUZZ_STATS_FILE="$STATS" FUZZ_FAILURES_FILE="$FAILURES" \
            FUZZ_TOKEN_LABEL="$label" FUZZ_REQUEST_TIMEOUT="$REQUEST_TIMEOUT" \
            ${steer:+FUZZ_STEER_SERVICE=fuzz FUZZ_STEER_NODE=fuzz-node} \
            st --config-file "$OUT/schemathesis.toml" run "$ROOT/docs/openapi.yaml" --url "$BASE" -H "X-Consul-Token: $token" \
            --exclude-tag local-agent --exclude-tag agent-registration --checks not_a_server_error --phases examples,coverage,fuzzing \
            --max-examples "$MAX_EXAMPLES" --seed "$seed" --workers "$WORKERS" \
            --request-timeout "$REQUEST_TIMEOUT" --suppress-health-check all --no-color >"$report" 2>&1
    ) || true
    after="$(requests_sent)"
    echo "    $((after - before)) requests; $(grep -E '^=+ .* in [0-9.]+s' "$report" | tr -d '=' | xargs)"
    alive || echo "    meshctl dev is no longer running"
}

# --- the runs ------------------------------------------------------------------

DB_DIFF=""
if [ -n "$DB_URL" ] && command -v psql >/dev/null; then
    echo "==> dev database: $DB_URL"
    echo -n "    before the narrow token's round: "; db dump "$DB_URL" "$OUT/db-before.json"
    fuzz_round narrow "$NARROW" "$SEED" steer
    if alive; then
        echo -n "    after the narrow token's round: "; db dump "$DB_URL" "$OUT/db-after.json"
        DB_DIFF="$(db diff "$OUT/db-before.json" "$OUT/db-after.json")"
    fi
else
    echo "==> no database URL in the log (or no psql): no before/after comparison"
    fuzz_round narrow "$NARROW" "$SEED" steer
fi
alive && fuzz_round management "$TOKEN" "$SEED"
i=1
while alive && [ "$(requests_sent)" -lt "$MIN_REQUESTS" ] && [ "$ROUND" -lt "$MAX_ROUNDS" ]; do
    fuzz_round management "$TOKEN" "$((SEED + i))"
    alive && [ "$(requests_sent)" -lt "$MIN_REQUESTS" ] && fuzz_round narrow "$NARROW" "$((SEED + i))" steer
    i=$((i + 1))
done

# --- summary -------------------------------------------------------------------

CRASHED=""
alive || CRASHED="meshctl dev exited"
grep -qE 'Fatal error|Program crashed|exited with status' "$LOG" && CRASHED="${CRASHED:+$CRASHED; }crash in the log"
stop_meshctl

python3 - "$STATS" "$FAILURES" <<'PY'
import collections, json, sys
stats = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
sent = [s for s in stats if not s[0].startswith("avoided:")]
avoided = collections.Counter(s[0] for s in stats if s[0].startswith("avoided:"))
print(f"\n==> {len(sent)} requests")
by_token = collections.Counter((s[3], s[0]) for s in sent)
for token in sorted({s[3] for s in sent}):
    counts = ", ".join(f"{status}: {n}" for (t, status), n in sorted(by_token.items()) if t == token)
    print(f"    {token}: {sum(n for (t, _), n in by_token.items() if t == token)} ({counts})")
for name, n in avoided.items():
    print(f"    {n} requests defused ({name}, FUZZ_AVOID_KNOWN_CRASHES=1)")
failures = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
print(f"==> failures (5xx or network error): {len(failures)}")
by_status = collections.Counter(str(f["status"]) for f in failures)
for status, n in sorted(by_status.items()):
    print(f"    {status}: {n}")
groups = collections.defaultdict(list)
for f in failures:
    groups[(str(f["status"]), f["method"], f["path"], "NUL in request" if f["nul"] else "no NUL")].append(f)
for (status, method, path, nul), items in sorted(groups.items()):
    print(f"    {status} {method} {path} [{nul}] x{len(items)}: {items[0]['body'][:100]!r}")
PY
if [ -n "$DB_DIFF" ]; then
    echo "==> rows that differ after the narrow token's round"
    echo "$DB_DIFF"
fi
echo "==> reports: $OUT (failures.jsonl has a curl command for each failure)"
if [ -n "$CRASHED" ]; then
    echo "==> CRASH: $CRASHED"
    grep -nE -A3 'Fatal error|Program crashed|exited with status' "$LOG" | head -20
fi
if [ -n "$CRASHED" ] || [ -s "$FAILURES" ]; then exit 1; fi
