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
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../../testkit/clients/serve.sh"

serve_modelgate "$1"
replay_venv "respan-api==$RESPAN_API_VERSION"

echo "== replaying the client"
status=0
(
    # Not from inside site-packages/respan: its `types` package would shadow the standard one.
    cd "$work"
    MODELGATE_URL="http://127.0.0.1:$port/respan" MODELGATE_KEY="$admin_key" \
        "$venv_python" "$here/replay.py"
) || status=$?
show_server_log_on_failure $status
exit $status
