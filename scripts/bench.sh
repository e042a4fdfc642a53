#!/usr/bin/env bash
# make bench: Go benchmarks (one FinishVerification through the real plugin
# process against in-process), then a load run of logins against a real
# server on SQLite with `hey` (apt-get install hey).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== Go benchmarks"
go test -run '^$' -bench . -benchmem ./factors/host/ ./mfa/

if ! command -v hey >/dev/null; then
  echo "== load run skipped: install hey (apt-get install -y hey)"
  exit 0
fi
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port=18199
TWOFOLD_HTTP_ADDR=127.0.0.1:$port TWOFOLD_DATABASE_URL="sqlite://$dir/db" TWOFOLD_SEAL_KEY=$(head -c32 /dev/urandom | base64) \
  TWOFOLD_BOOTSTRAP_ORG=demo TWOFOLD_BOOTSTRAP_ADMIN=admin TWOFOLD_BOOTSTRAP_PASSWORD=bench-password-123 \
  bin/twofold >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
body='{"query":"mutation { login(input: {organization: \"demo\", username: \"admin\", password: \"bench-password-123\"}) { status } }"}'
echo "== load: login (argon2id 19 MiB, t=2) x 400, 8 concurrent"
hey -n 400 -c 8 -m POST -T application/json -d "$body" "http://127.0.0.1:$port/graphql" | sed -n '1,12p'
token=$(curl -s "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
  -d '{"query":"mutation { login(input: {organization: \"demo\", username: \"admin\", password: \"bench-password-123\"}) { token } }"}' \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')
echo "== load: viewer query with a session (bearer) x 4000, 16 concurrent"
hey -n 4000 -c 16 -m POST -T application/json -H "Authorization: Bearer $token" \
  -d '{"query":"{ viewer { username organization { slug } } }"}' "http://127.0.0.1:$port/graphql" | sed -n '1,12p'
