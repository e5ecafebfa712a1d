# Shared helpers of scripts/dev.sh and scripts/test.sh (sourced, not run).

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Installs the PostgreSQL server binaries (initdb, pg_ctl) with apt when they are missing;
# `meshctl dev` and the Swift tests start private clusters from them.
ensure_postgres() {
    local bindir
    bindir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$bindir" ] && [ -x "$bindir/initdb" ]; then return 0; fi
    if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then return 0; fi
    echo "==> installing postgresql"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
}
