#!/usr/bin/env bash
# make run: start Twofold on the embedded SQLite default with a demo
# organization, creating a seal key in ./data on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
# .env (see .env.example) is read if present; variables already set win.
if [[ -f .env ]]; then
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    name=${line%%=*}
    [[ -z "${!name+x}" ]] && export "$line"
  done < .env
  echo "make run: read .env"
fi
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
port="${addr##*:}"
mode="production mode"
[[ "$TWOFOLD_DEV" == "true" ]] && mode="DEV MODE (Playground and introspection open to everyone; not for production)"

cat <<MSG

  Twofold is starting on http://$addr in $mode.
  Demo app:    http://localhost:$port/demo
  Playground:  http://localhost:$port/playground
  (use localhost, not 127.0.0.1: passkeys need the page's host to match the RP id "localhost")

  Log in as '$TWOFOLD_BOOTSTRAP_ADMIN' in organization '$TWOFOLD_BOOTSTRAP_ORG' (the password is
  printed below on first start, or is TWOFOLD_BOOTSTRAP_PASSWORD):

    curl -s http://localhost:$port/graphql -H 'Content-Type: application/json' -d '{"query":"mutation { login(input: {organization: \"$TWOFOLD_BOOTSTRAP_ORG\", username: \"$TWOFOLD_BOOTSTRAP_ADMIN\", password: \"PASSWORD\"}) { status token } }"}'

  then send the token as 'Authorization: Bearer TOKEN' (Playground: HTTP HEADERS).

MSG
exec bin/twofold
