# Sourced by .ci/run: make Postgres reachable on 127.0.0.1:5432 for the test suites — start the
# installed clusters, or install it with apt on a machine that has none — or fail. Needs `step`,
# `fail` and `as_root` from the caller.
#
# The install path is exercised on a fresh Debian 12 root by `.ci/fresh-postgres-check` (root
# and the Debian mirror needed, so not part of CI).

postgres_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -h 127.0.0.1 -p 5432 -q
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

start_clusters() {
  command -v pg_ctlcluster >/dev/null 2>&1 || return 0
  for version in $(ls /etc/postgresql 2>/dev/null); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
}

ensure_postgres() {
  postgres_up && return 0
  step "Postgres is not running: starting it"
  start_clusters
  if ! postgres_up && ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    step "Postgres is not installed: installing it with apt"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # The tests connect over TCP as `postgres` without a password, as on the dev machines.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
    start_clusters
  fi
  for _ in $(seq 1 30); do postgres_up && return 0; sleep 1; done
  fail "Postgres is not reachable on 127.0.0.1:5432; the Postgres suite cannot run"
}
