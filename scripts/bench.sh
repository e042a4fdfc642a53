#!/usr/bin/env bash
# make bench: Go benchmarks (the plugin round trip against in-process, the
# domain's hot paths).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchmem ./...
