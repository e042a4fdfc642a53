#!/bin/sh
# Builds what the container image ships, as static binaries (CGO_ENABLED=0):
#   OUT/twofold            the server
#   OUT/plugins/NAME       every factor plugin (plugins/*/main.go but example)
#   OUT/plugins.sha256     their SHA-256 pins, sha256sum format (as make build)
#   OUT/data/              an empty folder: the image's SQLite data volume
# The Dockerfile's build stage runs exactly this; scripts/docker-build-check.sh
# runs it here and checks the result. Usage: scripts/build-static.sh OUT
# (TWOFOLD_COMMIT names the commit when there is no .git, as in the image).
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/build-static.sh OUT}
commit=${TWOFOLD_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export CGO_ENABLED=0
# -trimpath and no VCS stamp: the same source gives the same bytes wherever
# it is built (the commit is passed explicitly).
flags="-trimpath -buildvcs=false"
mkdir -p "$out/plugins" "$out/data"
echo "build-static: twofold (commit $commit)"
go build $flags -ldflags "-s -w -X main.commit=$commit" -o "$out/twofold" ./cmd/twofold
plugins=""
for main in plugins/*/main.go; do
  name=$(basename "$(dirname "$main")")
  [ "$name" = example ] && continue
  echo "build-static: plugins/$name"
  go build $flags -ldflags "-s -w" -o "$out/plugins/$name" "./plugins/$name"
  plugins="$plugins $name"
done
# shellcheck disable=SC2086 # the names are words
(cd "$out/plugins" && sha256sum $plugins > ../plugins.sha256)
