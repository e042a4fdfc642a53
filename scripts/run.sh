#!/usr/bin/env bash
# make run: start Twofold on the embedded SQLite default with a demo
# organization, creating a seal key in ./data on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data
chmod 700 data

if [[ -z "${TWOFOLD_SEAL_KEY:-}" ]]; then
  if [[ ! -s data/seal.key ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 > data/seal.key)
    echo "make run: generated a seal key in data/seal.key (it encrypts factor secrets: keep it, back it up)"
  fi
  TWOFOLD_SEAL_KEY=$(cat data/seal.key)
  export TWOFOLD_SEAL_KEY
fi
export TWOFOLD_BOOTSTRAP_ORG="${TWOFOLD_BOOTSTRAP_ORG:-demo}"
export TWOFOLD_BOOTSTRAP_ADMIN="${TWOFOLD_BOOTSTRAP_ADMIN:-admin}"
export TWOFOLD_DEV="${TWOFOLD_DEV:-true}"
export TWOFOLD_PLUGIN_CHECKSUMS="${TWOFOLD_PLUGIN_CHECKSUMS:-@bin/plugins.sha256}"
addr="${TWOFOLD_HTTP_ADDR:-127.0.0.1:8080}"

cat <<MSG

  Twofold is starting on http://$addr
  Playground:  http://$addr/playground
  Log in as '$TWOFOLD_BOOTSTRAP_ADMIN' in organization '$TWOFOLD_BOOTSTRAP_ORG' (the password is
  printed below on first start, or is TWOFOLD_BOOTSTRAP_PASSWORD):

    curl -s http://$addr/graphql -H 'Content-Type: application/json' -d '{"query":"mutation { login(input: {organization: \"$TWOFOLD_BOOTSTRAP_ORG\", username: \"$TWOFOLD_BOOTSTRAP_ADMIN\", password: \"PASSWORD\"}) { status token } }"}'

  then send the token as 'Authorization: Bearer TOKEN' (Playground: HTTP HEADERS).

MSG
exec bin/twofold
