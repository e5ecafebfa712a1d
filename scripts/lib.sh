# Shared helpers of scripts/dev.sh, scripts/test.sh and scripts/fuzz-rest.sh (sourced, not run).

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

# Installs Debian's Chromium and its WebDriver with apt when they are missing: the web UI's
# tests drive a real browser (headless).
ensure_chromium() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return 0; fi
    echo "==> installing chromium and chromium-driver"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
}

# Stops the `meshctl dev` whose PID is in MESHCTL_PID (by PID, never by name): SIGTERM, up to
# 20 s grace, then SIGKILL.
stop_meshctl() {
    [ -n "${MESHCTL_PID:-}" ] || return 0
    if kill -0 "$MESHCTL_PID" 2>/dev/null; then
        kill -TERM "$MESHCTL_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$MESHCTL_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$MESHCTL_PID" 2>/dev/null; then
            echo "meshctl did not stop within 20s; killing it" >&2
            kill -KILL "$MESHCTL_PID" 2>/dev/null || true
        fi
    fi
    wait "$MESHCTL_PID" 2>/dev/null || true
    MESHCTL_PID=""
}
