# Sourced by the real-client replays (crates/*/tests/*client/run.sh): starts a modelgate binary
# on SQLite in a temporary directory, on a free 127.0.0.1 port, with a bootstrap admin key, and
# stops it (and whatever else was started) on exit.
#
#   source crates/testkit/clients/serve.sh
#   serve_modelgate path/to/modelgate [VAR=value ...]   # sets work, port, admin_key, server_log
#   replay_venv package==version ...                   # sets venv_python
#   show_server_log_on_failure $status
set -euo pipefail

work="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-client.XXXXXX")"
background_pids=()
cleanup() {
    for pid in "${background_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

serve_modelgate() {
    local binary
    binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    shift
    port="$(free_port)"
    admin_key="mg_replay_$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    server_log="$work/server.log"
    echo "== starting $binary on 127.0.0.1:$port (SQLite in $work/data)"
    (
        cd "$work"
        # A clean environment for the server: SQLite, no catalog file from the caller's directory.
        exec env -u DATABASE_URL -u MODELGATE_SECRET_KEY -u MODELGATE_CATALOG \
            MODELGATE_LISTEN="127.0.0.1:$port" \
            MODELGATE_DATA_DIR="$work/data" \
            MODELGATE_BOOTSTRAP_ADMIN_KEY="$admin_key" \
            MODELGATE_WORKERS=2 \
            "$@" \
            "$binary" serve >"$server_log" 2>&1
    ) &
    local server_pid=$!
    background_pids+=("$server_pid")
    for _ in $(seq 1 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        if python3 - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
            return 0
        fi
        sleep 0.2
    done
    echo "== the server did not become ready; its log:" >&2
    cat "$server_log" >&2
    exit 1
}

replay_venv() {
    echo "== installing $* into a temporary venv"
    python3 -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    venv_python="$work/venv/bin/python"
}

show_server_log_on_failure() {
    if [[ $1 -ne 0 ]]; then
        echo "== replay failed ($1); the server's log:" >&2
        tail -n 50 "$server_log" >&2
    fi
}
