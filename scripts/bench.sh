#!/usr/bin/env bash
# make bench: seeds a throwaway MariaDB (1,000,000 users) and a SQLite file
# (100,000 users) in bulk, runs the real bin/twofold with its real plugins on
# each (per-address rate limit off: the load generator is one address),
# measures admin queries (totals checked against ground truth), logins,
# TOTP verifications and full TOTP logins at 1, 8, 32 and 64 clients, the raw
# argon2id rate, the plugin hop (go test -bench) and the memory of the server
# and its plugins, and writes docs/BENCHMARKS.md. Takes about 10 minutes.
# Flags go to scripts/bench (go run ./scripts/bench -h), e.g. a quick run:
#   scripts/bench.sh -mysql-users 20000 -sqlite-users 5000 -out /tmp/bench.md
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench "$@"
