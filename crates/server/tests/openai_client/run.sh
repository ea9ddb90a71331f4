#!/usr/bin/env bash
# Runs OpenAI's Python SDK (openai, from PyPI) against modelgate's gateway: a freshly started
# modelgate in front of the test kit's fake upstream.
#
#   crates/server/tests/openai_client/run.sh path/to/modelgate path/to/fake-upstream
#
# Starts the fake upstream and modelgate (SQLite in a temporary directory, a bootstrap admin
# key, loopback upstreams allowed); installs the SDK into a temporary venv; runs replay.py;
# stops both. Exits with replay.py's status (or non-zero when set-up fails). Needs python3 with
# the venv module and access to PyPI (or a mirror set through PIP_* variables).
set -euo pipefail

OPENAI_VERSION="3.57.0"

if [[ $# -ne 2 || ! -x "$1" || ! -x "$2" ]]; then
    echo "usage: $0 <path to the modelgate binary> <path to the fake-upstream binary>" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../../testkit/clients/serve.sh"

"$2" >"$work/upstream.txt" &
background_pids+=("$!")
for _ in $(seq 1 50); do
    [[ -s "$work/upstream.txt" ]] && break
    sleep 0.1
done
upstream_url="$(head -n1 "$work/upstream.txt")"
echo "== fake upstream at $upstream_url"

serve_modelgate "$1" MODELGATE_EGRESS_ALLOW=127.0.0.1
replay_venv "openai==$OPENAI_VERSION"

echo "== replaying the SDK"
status=0
MODELGATE_URL="http://127.0.0.1:$port" MODELGATE_KEY="$admin_key" UPSTREAM_URL="$upstream_url" \
    "$venv_python" "$here/replay.py" || status=$?
show_server_log_on_failure $status
exit $status
