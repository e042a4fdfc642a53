#!/usr/bin/env bash
# Regenerates factors/proto from factor.proto with protoc and the Go plugins
# pinned as tools in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then
  echo "gen-proto: installing protobuf-compiler" >&2
  apt-get install -y -qq protobuf-compiler >/dev/null
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
PATH="$bin:$PATH" protoc -I factors/proto \
  --go_out=factors/proto --go_opt=paths=source_relative \
  --go-grpc_out=factors/proto --go-grpc_opt=paths=source_relative \
  factors/proto/factor.proto
