#!/usr/bin/env bash
# Runs Respan's real Python client (respan-api, from PyPI) against a freshly started modelgate.
#
#   crates/respan/tests/client/run.sh path/to/modelgate
#
# Starts the binary on SQLite in a temporary data directory, on a free 127.0.0.1 port, with a
# bootstrap admin key; waits for /readyz; installs respan-api into a temporary venv; runs
# replay.py; stops the server. Exits with replay.py's status (or non-zero when set-up fails).
# Needs python3 with the venv module and access to PyPI (or a mirror set through PIP_* variables).
set -euo pipefail

RESPAN_API_VERSION="0.1.49"

if [[ $# -ne 1 || ! -x "$1" ]]; then
    echo "usage: $0 <path to the modelgate binary>" >&2
    exit 2
fi
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-respan-client.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
admin_key="mg_replay_$(python3 -c 'import secrets; print(secrets.token_hex(24))')"

echo "== starting $binary on 127.0.0.1:$port (SQLite in $work/data)"
(
    cd "$work"
    # A clean environment for the server: SQLite, no catalog file from the caller's directory.
    exec env -u DATABASE_URL -u MODELGATE_SECRET_KEY -u MODELGATE_CATALOG \
        MODELGATE_LISTEN="127.0.0.1:$port" \
        MODELGATE_DATA_DIR="$work/data" \
        MODELGATE_BOOTSTRAP_ADMIN_KEY="$admin_key" \
        MODELGATE_WORKERS=2 \
        "$binary" serve >"$work/server.log" 2>&1
) &
server_pid=$!

ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        break
    fi
    if python3 - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
        ready=1
        break
    fi
    sleep 0.2
done
if [[ -z "$ready" ]]; then
    echo "== the server did not become ready; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

echo "== installing respan-api==$RESPAN_API_VERSION into a temporary venv"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "respan-api==$RESPAN_API_VERSION"

echo "== replaying the client"
status=0
(
    # Not from inside site-packages/respan: its `types` package would shadow the standard one.
    cd "$work"
    MODELGATE_URL="http://127.0.0.1:$port/respan" MODELGATE_KEY="$admin_key" \
        "$work/venv/bin/python" "$here/replay.py"
) || status=$?

if [[ $status -ne 0 ]]; then
    echo "== replay failed ($status); the server's log:" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit $status
