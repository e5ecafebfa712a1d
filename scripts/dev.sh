#!/usr/bin/env bash
# Runs the mesh locally: installs PostgreSQL if missing, builds, and starts `meshctl dev`
# (a private PostgreSQL in a temporary directory plus every control-plane service).
# Extra arguments go to `meshctl dev` (e.g. --http-addr 127.0.0.1:8500). Ctrl-C stops everything.
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have_initdb() {
    local bindir
    bindir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$bindir" ] && [ -x "$bindir/initdb" ]; then return 0; fi
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
if ! have_initdb; then
    echo "==> installing postgresql"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

swift build
exec "$(swift build --show-bin-path)/meshctl" dev "$@"
