#!/usr/bin/env bash
# Runs the mesh locally: installs PostgreSQL if missing, builds, and starts `meshctl dev`
# (a private PostgreSQL in a temporary directory plus every control-plane service).
# Extra arguments go to `meshctl dev` (e.g. --http-addr 127.0.0.1:8500). Ctrl-C stops everything.
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_postgres

swift build
exec "$(swift build --show-bin-path)/meshctl" dev "$@"
