#!/usr/bin/env bash
# A throwaway 3-node MariaDB Galera cluster on loopback ports, for tests and
# for trying Twofold on a multi-master database.
#
#   scripts/galera.sh start        start the three nodes, wait until they are
#                                  synced, print one DSN per line
#   scripts/galera.sh stop         stop every node and remove the folder
#   scripts/galera.sh kill N       SIGKILL node N (1-3), as a crash would
#   scripts/galera.sh restart N    start node N again (after kill or a crash):
#                                  it rejoins by incremental state transfer
#   scripts/galera.sh dsns         print the DSNs again
#
# GALERA_DIR (default /tmp/twofold-galera) holds the datadirs, logs and the
# chosen ports; GALERA_BASE (default: a free range) is the first of the
# ports: node N serves SQL on BASE+N, group communication on BASE+10+N,
# incremental transfer on BASE+20+N and rsync transfer on BASE+30+N.
#
# Measured on Debian 12 (MariaDB 10.11, galera-4 26.4): only the first node
# needs mariadb-install-db, the joiners get an rsync copy, which fails with
# "Permission denied" unless their datadir is owned by nobody:nogroup first;
# a SIGKILLed node rejoins by IST in ~5 s when started with the position
# `mariadbd --wsrep-recover` finds.
set -euo pipefail

DIR=${GALERA_DIR:-/tmp/twofold-galera}
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
MARIADBD=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null || true)
CLIENT=$(command -v mariadb || command -v mysql || true)

die() { echo "galera.sh: $*" >&2; exit 1; }

free_base() {
  # A base whose 40 ports are all free.
  python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000, 100)
    ok = True
    for p in range(base, base + 40):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        break
EOF
}

base() { cat "$DIR/base" 2>/dev/null || die "no cluster in $DIR (run: $0 start)"; }
sql_port() { echo $(( $(base) + $1 )); }

node_args() {
  local n=$1 b
  b=$(base)
  local gcomm="gcomm://127.0.0.1:$((b + 11)),127.0.0.1:$((b + 12)),127.0.0.1:$((b + 13))"
  echo --no-defaults --datadir="$DIR/n$n" --socket="$DIR/n$n.sock" --port=$((b + n)) \
    --bind-address=127.0.0.1 --user=root --pid-file="$DIR/n$n.pid" --log-error="$DIR/n$n.err" \
    --skip-name-resolve --innodb-buffer-pool-size=64M --max-connections=400 \
    --innodb-flush-log-at-trx-commit=2 \
    --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-address="$gcomm" \
    --wsrep-node-address=127.0.0.1 --wsrep-node-name="n$n" \
    "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:$((b + 10 + n));ist.recv_addr=127.0.0.1:$((b + 20 + n));gcache.size=64M" \
    --wsrep-sst-receive-address=127.0.0.1:$((b + 30 + n)) --wsrep-sst-method=rsync \
    --binlog-format=ROW --innodb-autoinc-lock-mode=2
}

# launch N [extra flags...]: start node N in the background, detached.
launch() {
  local n=$1
  shift
  # shellcheck disable=SC2046 # node_args is a word list by design
  setsid "$MARIADBD" $(node_args "$n") "$@" </dev/null >>"$DIR/n$n.out" 2>&1 &
  echo $! >"$DIR/n$n.launcher"
}

query() { "$CLIENT" --no-defaults -uroot -h127.0.0.1 -P"$(sql_port "$1")" -N -B -e "$2" 2>/dev/null; }

# wait_synced N [seconds]: until node N says Synced.
wait_synced() {
  local n=$1 limit=${2:-90} i
  for ((i = 0; i < limit * 5; i++)); do
    if [[ $(query "$n" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | awk '{print $2}') == Synced ]]; then
      return 0
    fi
    if ! running "$n"; then
      tail -n 30 "$DIR/n$n.err" >&2 || true
      die "node $n exited while starting"
    fi
    sleep 0.2
  done
  tail -n 30 "$DIR/n$n.err" >&2 || true
  die "node $n not synced after ${limit}s"
}

pid_of() { cat "$DIR/n$1.pid" 2>/dev/null || cat "$DIR/n$1.launcher" 2>/dev/null || true; }
running() {
  local p
  p=$(pid_of "$1")
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null
}

dsns() { for n in 1 2 3; do echo "root@tcp(127.0.0.1:$(sql_port $n))/"; done; }

start() {
  [[ -n "$MARIADBD" && -n "$CLIENT" ]] || die "mariadbd or the mariadb client is missing (apt-get install -y mariadb-server)"
  [[ -f "$PROVIDER" ]] || die "$PROVIDER is missing (apt-get install -y galera-4 rsync)"
  command -v rsync >/dev/null || die "rsync is missing (apt-get install -y rsync)"
  if [[ -f "$DIR/base" ]] && running 1; then die "a cluster runs in $DIR already (stop it first)"; fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  echo "${GALERA_BASE:-$(free_base)}" >"$DIR/base"
  local install
  install=$(command -v mariadb-install-db || command -v mysql_install_db)
  "$install" --no-defaults --datadir="$DIR/n1" --auth-root-authentication-method=normal \
    --skip-test-db --user=root >"$DIR/install.log" 2>&1 || { cat "$DIR/install.log" >&2; die "install failed"; }
  launch 1 --wsrep-new-cluster
  wait_synced 1
  for n in 2 3; do
    mkdir -p "$DIR/n$n"
    chown -R nobody:nogroup "$DIR/n$n"
    launch "$n"
    # One joiner at a time: the donor serves one rsync transfer at once.
    wait_synced "$n"
  done
  dsns
}

stop() {
  [[ -d "$DIR" ]] || return 0
  local n p
  for n in 1 2 3; do
    p=$(pid_of "$n")
    [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
  done
  for n in 1 2 3; do
    p=$(pid_of "$n")
    for _ in $(seq 1 100); do
      [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$DIR"
}

kill_node() {
  local n=$1 p
  p=$(pid_of "$n")
  [[ -n "$p" ]] || die "node $n has no pid"
  kill -9 "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  die "node $n did not die"
}

restart() {
  local n=$1 pos
  running "$n" && die "node $n is running"
  rm -f "$DIR/n$n.pid" "$DIR/n$n.sock"
  # The last committed position, so the node asks for the missing writes
  # only (IST) instead of a full copy.
  # shellcheck disable=SC2046
  "$MARIADBD" $(node_args "$n") --wsrep-recover --log-error="$DIR/n$n.recover" >/dev/null 2>&1 || true
  pos=$(grep -o 'Recovered position: [^ ]*' "$DIR/n$n.recover" 2>/dev/null | tail -n 1 | awk '{print $3}')
  rm -f "$DIR/n$n.recover"
  if [[ -n "$pos" ]]; then
    launch "$n" --wsrep-start-position="$pos"
  else
    launch "$n"
  fi
  wait_synced "$n"
}

node() {
  [[ "${1:-}" =~ ^[123]$ ]] || die "node must be 1, 2 or 3"
  echo "$1"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill_node "$(node "${2:-}")" ;;
  restart) restart "$(node "${2:-}")" ;;
  dsns) dsns ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
