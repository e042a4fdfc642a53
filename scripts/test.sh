#!/usr/bin/env bash
# Runs every test. When TWOFOLD_TEST_MYSQL_DSN is unset it starts a throwaway
# MariaDB (datadir in a temp folder, its own port) and stops it afterwards;
# with galera-4 installed it also starts a throwaway 3-node Galera cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

stop_db() {
  if [[ -n "${DB_PID:-}" ]]; then
    kill "$DB_PID" 2>/dev/null || true
    wait "$DB_PID" 2>/dev/null || true
  fi
  if [[ -n "${DB_DIR:-}" ]]; then rm -rf "$DB_DIR"; fi
}
stop_galera() {
  if [[ -n "${GALERA_DIR:-}" ]]; then
    scripts/galera.sh stop || true
  fi
}
trap 'stop_db || true; stop_galera || true' EXIT

if [[ -z "${TWOFOLD_TEST_MYSQL_DSN:-}" ]]; then
  MARIADBD=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null || true)
  if [[ -z "$MARIADBD" ]]; then
    if [[ "${TWOFOLD_TEST_REQUIRE_MYSQL:-}" == "1" ]]; then
      echo "test.sh: mariadbd not found and TWOFOLD_TEST_REQUIRE_MYSQL=1 (install mariadb-server)" >&2
      exit 1
    fi
    echo "test.sh: mariadbd not found; MySQL tests will run on SQLite only" >&2
  else
    DB_DIR=$(mktemp -d /tmp/twofold-mariadb.XXXXXX)
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
    INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db)
    USER_FLAG=()
    [[ $(id -u) == 0 ]] && USER_FLAG=(--user=root)
    "$INSTALL_DB" --no-defaults --datadir="$DB_DIR/data" --auth-root-authentication-method=normal \
      --skip-test-db "${USER_FLAG[@]}" >"$DB_DIR/install.log" 2>&1 \
      || { cat "$DB_DIR/install.log" >&2; exit 1; }
    "$MARIADBD" --no-defaults --datadir="$DB_DIR/data" --socket="$DB_DIR/s.sock" --port="$PORT" \
      --bind-address=127.0.0.1 "${USER_FLAG[@]}" --pid-file="$DB_DIR/pid" --log-error="$DB_DIR/err.log" \
      --skip-name-resolve --innodb-buffer-pool-size=128M --max-connections=500 &
    DB_PID=$!
    for _ in $(seq 1 100); do
      if mariadb --no-defaults -uroot -h127.0.0.1 -P"$PORT" -e 'select 1' >/dev/null 2>&1; then break; fi
      if ! kill -0 "$DB_PID" 2>/dev/null; then cat "$DB_DIR/err.log" >&2; exit 1; fi
      sleep 0.1
    done
    export TWOFOLD_TEST_MYSQL_DSN="root@tcp(127.0.0.1:$PORT)/"
    echo "test.sh: throwaway MariaDB on 127.0.0.1:$PORT"
  fi
fi

# The Galera test (e2e/galera_test.go) runs on a throwaway 3-node cluster when
# galera-4 is installed, unless TWOFOLD_TEST_GALERA_DSNS names one.
if [[ -z "${TWOFOLD_TEST_GALERA_DSNS:-}" ]]; then
  if [[ -f /usr/lib/galera/libgalera_smm.so ]] && command -v rsync >/dev/null && [[ -n "${MARIADBD:-$(command -v mariadbd || ls /usr/sbin/mariadbd 2>/dev/null || true)}" ]]; then
    export GALERA_DIR
    GALERA_DIR=$(mktemp -d /tmp/twofold-galera.XXXXXX)
    DSNS=$(scripts/galera.sh start) || { echo "test.sh: the Galera cluster did not start" >&2; exit 1; }
    export TWOFOLD_TEST_GALERA_DSNS
    TWOFOLD_TEST_GALERA_DSNS=$(paste -sd, <<<"$DSNS")
    echo "test.sh: throwaway Galera cluster: $TWOFOLD_TEST_GALERA_DSNS"
  elif [[ "${TWOFOLD_TEST_REQUIRE_GALERA:-}" == "1" ]]; then
    echo "test.sh: galera-4 not found and TWOFOLD_TEST_REQUIRE_GALERA=1 (apt-get install -y galera-4 rsync)" >&2
    exit 1
  else
    echo "test.sh: galera-4 not installed; the Galera test is skipped" >&2
  fi
fi

go test -race -count=1 -timeout 14m "$@" ./...

# The store's contract suite once more, on the Galera cluster.
if [[ -n "${TWOFOLD_TEST_GALERA_DSNS:-}" && $# -eq 0 ]]; then
  echo "test.sh: the store's contract suite on Galera"
  TWOFOLD_TEST_DIALECTS=galera go test -race -count=1 -timeout 5m ./models/...
fi
