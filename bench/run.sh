#!/usr/bin/env bash
# modelgate's HTTP load benchmark: the release binary on SQLite and on Postgres, seeded through
# its own API, measured with wrk; on Postgres, pgbench runs the statement that is the floor of
# each scenario against the same database in the same run, and the report prints the ratios.
#
#   bash bench/run.sh                  # everything (about 15 minutes after the release build)
#   BENCH_SECONDS=3 BENCH_SIZES=1000 bash bench/run.sh    # a quick look
#   BENCH_BACKENDS=postgres bash bench/run.sh               # one backend
#   BENCH_LITELLM=/path/to/venv/bin/litellm bash bench/run.sh  # LiteLLM's proxy in the table too
#   BENCH_UPSTREAM_MS=50 bash bench/run.sh  # the gateway's upstream thinks 50 ms (default 10)
#
# Needs: wrk and pgbench (installed with apt when missing), python3, curl, and a Postgres at
# BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres; a database is created
# and dropped).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${BENCH_SECONDS:-10}"
SIZES="${BENCH_SIZES:-1000 10000 100000}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
# The gateway is measured twice: against an upstream that answers at once (every core busy, so
# what the proxy's own work costs in throughput) and against one that takes THINK_MS to answer,
# as a model does (the cores are not the limit, so what the proxy adds to each call's latency).
THINK_MS="${BENCH_UPSTREAM_MS:-10}"
THINKING="chat completion, upstream ${THINK_MS} ms"
THINK_MODEL="after-${THINK_MS}ms"  # the fake upstream's name for such a model
ADMIN_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT="${BENCH_PORT:-18080}"
KEY="mg_bench_admin_key_0123456789abcdef"
SECRET="YmVuY2htYXJrLWJlbmNobWFyay1iZW5jaG1hcmstISE="  # base64 of 32 bytes, for this run only
BASE="http://127.0.0.1:$PORT"
OUT="$(mktemp -d)"
SERVER_PID=""
UPSTREAM_PID=""
LITELLM_PID=""
PG_DB=""

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (for $1)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need wrk wrk
need pgbench postgresql  # pgbench comes with the server package on Debian
need psql postgresql-client

cleanup() {
  # The run's own status, not that of the processes stopped here (a killed one reports 143).
  local status=$?
  # `|| true`: under `set -e` a failing last command of an && list ends the shell right here.
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$UPSTREAM_PID" ] && kill "$UPSTREAM_PID" 2>/dev/null && wait "$UPSTREAM_PID" 2>/dev/null || true
  [ -n "$LITELLM_PID" ] && kill "$LITELLM_PID" 2>/dev/null && wait "$LITELLM_PID" 2>/dev/null || true
  [ -n "${BARE_PID:-}" ] && kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null || true
  [ -n "$PG_DB" ] && psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  rm -rf "$OUT"
  exit "$status"
}
trap cleanup EXIT

# CI runs it briefly on the debug build (BENCH_PROFILE=debug) so that the script keeps working;
# only release numbers mean anything.
PROFILE="${BENCH_PROFILE:-release}"
echo "==> building the $PROFILE binary" >&2
# The gateway's upstream: the test kit's fake OpenAI-compatible server, as a process.
case "${BENCH_BINARY:+given}$PROFILE" in
  given*) ;;
  release) cargo build --release --locked -p modelgate-server --bin modelgate \
    --example bare_proxy -p modelgate-testkit --bin fake-upstream >&2 ;;
  debug) cargo build --locked -p modelgate-server --bin modelgate \
    --example bare_proxy -p modelgate-testkit --bin fake-upstream >&2 ;;
  *) echo "BENCH_PROFILE is release or debug" >&2; exit 1 ;;
esac
BIN="${BENCH_BINARY:-${CARGO_TARGET_DIR:-target}/$PROFILE/modelgate}"
UPSTREAM_BIN="${BENCH_UPSTREAM_BINARY:-$(dirname "$BIN")/fake-upstream}"
# The least any proxy on modelgate's HTTP stack does (crates/server/examples/bare_proxy.rs).
BARE_BIN="$(dirname "$BIN")/examples/bare_proxy"
BARE_PID=""

RESULTS="$OUT/results.tsv"
: >"$RESULTS"

# record BACKEND SCENARIO TOOL FILE: one result line for the report.
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

# http BACKEND SCENARIO CONNECTIONS PATH [LUA]: wrk against the running server (or, for a PATH
# that is a whole URL, against that).
http() {
  local file="$OUT/wrk-$1-${2//[^A-Za-z0-9]/_}.txt" script=() url="$4"
  [ -n "${5:-}" ] && script=(-s "bench/$5")
  [[ "$url" == http* ]] || url="$BASE$url"
  wrk -t2 -c"$3" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $KEY" \
    "${script[@]}" "$url" >"$file"
  record "$1" "$2" wrk "$file"
}

# ttfb BACKEND URL MODEL: the median and p99 time to the first byte of a streamed answer.
ttfb() {
  record "$1" "stream TTFB" ttfb "$(python3 bench/ttfb.py "$2" "$3" "$KEY" 300)"
}

# floor SCENARIO CLIENTS SQL: pgbench on the statement a scenario cannot beat.
floor() {
  local dir="$OUT/pgbench-${1//[^A-Za-z0-9]/_}"
  mkdir -p "$dir"
  printf '%s\n' "$3" >"$dir/script.sql"
  (cd "$dir" && pgbench -n -M prepared -c "$2" -j 2 -T "$SECONDS_EACH" -l \
    -f script.sql "$PG_URL" >summary.txt 2>&1)
  record postgres "$1" pgbench "$dir"
}

# floor_of SCENARIO CLIENTS SQL: the floor, where the backend has one (Postgres).
floor_of() { if [ "$backend" = postgres ]; then floor "$@"; fi; }

start_server() {
  # Something already answering there would be measured instead (and refuse the bench's key).
  if curl -fs "$BASE/readyz" >/dev/null 2>&1; then
    echo "port $PORT is already in use: stop what listens there or set BENCH_PORT" >&2
    exit 1
  fi
  SERVER_LOG="$OUT/server-$1.log"
  DATABASE_URL="$2" MODELGATE_DATA_DIR="$OUT/data-$1" MODELGATE_LISTEN="127.0.0.1:$PORT" \
    MODELGATE_BOOTSTRAP_ADMIN_KEY="$KEY" MODELGATE_SECRET_KEY="$SECRET" \
    MODELGATE_EGRESS_ALLOW=127.0.0.1 \
    "$BIN" serve >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$SERVER_LOG" >&2
  echo "modelgate did not become ready" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

post() {
  curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary "@$2" "$BASE$1"
}

# seed FROM TO: custom models bench-FROM … bench-(TO-1), a thousand per Open WebUI import.
seed() {
  python3 - "$1" "$2" "$OUT/batches" <<'EOF'
import json, os, sys
start, end, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(folder, exist_ok=True)
for f in os.listdir(folder):
    os.remove(os.path.join(folder, f))
for first in range(start, end, 1000):
    models = [{"id": f"bench-{i}", "name": f"Bench {i}", "base_model_id": "gpt-4o",
               "meta": {"description": "seeded"}, "params": {"temperature": 0.2}}
              for i in range(first, min(first + 1000, end))]
    with open(os.path.join(folder, f"{first:07d}.json"), "w") as out:
        json.dump({"models": models}, out)
EOF
  for batch in "$OUT"/batches/*.json; do post /openwebui/api/models/import "$batch"; done
}

"$UPSTREAM_BIN" >"$OUT/upstream.txt" &
UPSTREAM_PID=$!
for _ in $(seq 1 100); do [ -s "$OUT/upstream.txt" ] && break; sleep 0.1; done
UPSTREAM_URL="$(head -n1 "$OUT/upstream.txt")"
echo "==> the gateway's upstream, called directly ($UPSTREAM_URL)" >&2
BENCH_MODEL=bench-up http upstream "chat completion" 16 "$UPSTREAM_URL/chat/completions" chat.lua
BENCH_MODEL="$THINK_MODEL" http upstream "$THINKING" 16 "$UPSTREAM_URL/chat/completions" chat.lua
ttfb upstream "$UPSTREAM_URL/chat/completions" bench-up

if [ -x "$BARE_BIN" ]; then
  BARE_PORT=$((PORT + 6))
  "$BARE_BIN" "$UPSTREAM_URL/chat/completions" "127.0.0.1:$BARE_PORT" >"$OUT/bare.log" 2>&1 &
  BARE_PID=$!
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null -X POST -d '{}' "http://127.0.0.1:$BARE_PORT/" 2>/dev/null && break
    sleep 0.1
  done
  echo "==> a bare pass-through proxy on the same HTTP stack" >&2
  BENCH_MODEL=bench-up http bare "chat completion" 16 "http://127.0.0.1:$BARE_PORT/" chat.lua
  BENCH_MODEL="$THINK_MODEL" http bare "$THINKING" 16 "http://127.0.0.1:$BARE_PORT/" chat.lua
  kill "$BARE_PID" && wait "$BARE_PID" 2>/dev/null || true
  BARE_PID=""
fi

# LiteLLM's proxy, what a team might run instead, in front of the same upstream: config-file
# mode, no database, one worker per core as modelgate runs. BENCH_LITELLM names its `litellm`
# executable (`python3 -m venv v && v/bin/pip install 'litellm[proxy]'`); left out otherwise.
if [ -n "${BENCH_LITELLM:-}" ]; then
  LITELLM_PORT=$((PORT + 5))
  {
    printf 'model_list:\n'
    for pair in "gw bench-up" "gw-think $THINK_MODEL"; do
      printf '  - model_name: %s\n    litellm_params:\n      model: openai/%s\n' $pair
      printf '      api_base: %s\n      api_key: upstream-key\n' "$UPSTREAM_URL"
    done
    printf 'general_settings:\n  master_key: sk-bench-litellm\n'
  } >"$OUT/litellm.yaml"
  "$BENCH_LITELLM" --config "$OUT/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" \
    --num_workers 2 >"$OUT/litellm.log" 2>&1 &
  LITELLM_PID=$!
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$LITELLM_PORT/health/liveliness" >/dev/null 2>&1 && break
    sleep 1
  done
  echo "==> LiteLLM's proxy in front of the same upstream" >&2
  (
    KEY=sk-bench-litellm
    BENCH_MODEL=gw http litellm "chat completion" 16 \
      "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" chat.lua
    BENCH_MODEL=gw-think http litellm "$THINKING" 16 \
      "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" chat.lua
    ttfb litellm "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" gw
  )
  kill "$LITELLM_PID" && wait "$LITELLM_PID" 2>/dev/null || true
  LITELLM_PID=""
fi

for backend in $BACKENDS; do
  case "$backend" in
    sqlite) URL="$OUT/data-sqlite/modelgate.db" ;;
    postgres)
      PG_DB="modelgate_bench_$$"
      psql -q "$ADMIN_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
      PG_URL="${ADMIN_URL%/*}/$PG_DB"
      URL="$PG_URL"
      ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  echo "==> $backend" >&2
  start_server "$backend" "$URL"
  printf '{"id":"hot","name":"Hot","base_model_id":"gpt-4o","meta":{},"params":{}}' >"$OUT/hot.json"
  post /openwebui/api/models/create "$OUT/hot.json"

  seeded=1
  for size in $SIZES; do
    echo "    seeding to $size models" >&2
    seed "$seeded" "$size"
    seeded="$size"
    if [ "$size" = "${SIZES%% *}" ]; then
      printf '{"model_id":"gw","category":"llm","model_provider":"openai","model_name":"bench-up","base_url":"%s"}' \
        "$UPSTREAM_URL" >"$OUT/gw.json"
      post /xagent/api/models/ "$OUT/gw.json"
      printf '{"model_id":"gw-think","category":"llm","model_provider":"openai","model_name":"%s","base_url":"%s"}' \
        "$THINK_MODEL" "$UPSTREAM_URL" >"$OUT/gw-think.json"
      post /xagent/api/models/ "$OUT/gw-think.json"
      BENCH_MODEL=gw http "$backend" "chat completion" 16 "/v1/chat/completions" chat.lua
      BENCH_MODEL=gw-think http "$backend" "$THINKING" 16 "/v1/chat/completions" chat.lua
      ttfb "$backend" "$BASE/v1/chat/completions" gw
      # Each scenario's floor runs right after it: this machine's speed drifts over minutes
      # (the floor has read 17,000–60,000/s on different days), and a ratio is only as good
      # as the two measurements are close in time.
      get="SELECT * FROM models WHERE org_id = 'default' AND key = 'hot';"
      http "$backend" "GET /v1" 8 "/v1/models/hot"
      floor_of "GET /v1" 8 "$get"
      http "$backend" "GET openwebui" 8 "/openwebui/api/models/model?id=hot"
      floor_of "GET openwebui" 8 "$get"
      http "$backend" "GET xagent" 8 "/xagent/api/models/by-id/hot"
      floor_of "GET xagent" 8 "$get"
      http "$backend" "GET syft" 8 "/syft/api/v1/models/hot"
      floor_of "GET syft" 8 "$get"
      http "$backend" "GET respan" 8 "/respan/api/models/hot/"
      floor_of "GET respan" 8 "$get"
      http "$backend" "16 writers, one model" 16 "/respan/api/models/hot/" patch.lua
      floor_of "16 writers, one model" 16 "BEGIN;
SELECT version FROM models WHERE org_id = 'default' AND key = 'hot' FOR UPDATE;
UPDATE models SET description = 'floor', version = version + 1, updated_at = now() WHERE org_id = 'default' AND key = 'hot';
COMMIT;"
      http "$backend" "/v1/models ($size)" 8 "/v1/models"
      floor_of "/v1/models ($size)" 8 "SELECT key, created_at, owner_id FROM models WHERE org_id = 'default' OR org_id IS NULL ORDER BY seq;"
    fi
    http "$backend" "list page ($size)" 8 "/openwebui/api/models/list?page=2"
    floor_of "list page ($size)" 8 "SELECT * FROM models WHERE org_id = 'default' AND source = 'custom' ORDER BY created_at DESC, seq LIMIT 30 OFFSET 30;"
  done
  RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  record "$backend" "peak RSS" rss "$RSS_KB"
  stop_server
  if [ "$backend" = postgres ]; then
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    PG_DB=""
  fi
done

python3 bench/report.py "$RESULTS" "$SECONDS_EACH" "$PROFILE"
