# Twofold: the two commands are `make run` and `make test`.
GO       ?= go
PLUGINS  := $(filter-out example,$(notdir $(patsubst %/main.go,%,$(wildcard plugins/*/main.go))))
GOFILES  := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: build run test generate playground-assets lint bench clean migration

## build: the server to bin/twofold, every factor plugin to bin/plugins/ (and
## their SHA-256 pins to bin/plugins.sha256), the example plugins to bin/examples/
## (the Node.js one, a launcher script, when node is installed).
build:
	$(GO) build -ldflags "-X main.commit=$$(git rev-parse --short HEAD 2>/dev/null)" -o bin/twofold ./cmd/twofold
	@mkdir -p bin/plugins bin/examples
	@for p in $(PLUGINS); do echo "go build plugins/$$p"; $(GO) build -o bin/plugins/$$p ./plugins/$$p || exit 1; done
	@if [ -d plugins/example ]; then $(GO) build -o bin/examples/example ./plugins/example; fi
	@if command -v node >/dev/null 2>&1; then \
	  echo "npm ci plugins/examples/node-passphrase"; \
	  cd plugins/examples/node-passphrase && { [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --silent; } || exit 1; cd - >/dev/null; \
	  printf '#!/bin/sh\n# The Node.js example factor plugin (plugins/examples/node-passphrase).\nexec %s %s/plugins/examples/node-passphrase/index.js\n' \
	    "$$(command -v node)" "$$(pwd)" > bin/examples/node-passphrase && chmod 755 bin/examples/node-passphrase; \
	else echo "node not found: plugins/examples/node-passphrase not built"; fi
	@cd bin/plugins && sha256sum $(PLUGINS) > ../plugins.sha256

## run: build, then start on the embedded SQLite default with the demo org.
run: build
	@scripts/run.sh

## test: every test, on SQLite and a throwaway MariaDB, with real plugins.
test:
	@scripts/test.sh

## generate: gqlgen and protobuf code, and the whole SDL in graph/schema.graphql
## (all committed).
generate:
	$(GO) tool gqlgen generate
	$(GO) run ./scripts/printschema graph/schema.graphql
	@if [ -x scripts/gen-proto.sh ]; then scripts/gen-proto.sh; fi

## migration: write the next schema migration of each dialect from the GORM
## row types, NAME=add_something (models/migrations/README.md); needs the
## MariaDB of TWOFOLD_TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/).
migration:
	@test -n "$(NAME)" || { echo "usage: make migration NAME=add_something"; exit 2; }
	$(GO) run ./scripts/migration -name "$(NAME)"

## playground-assets: refresh the embedded GraphiQL and React bundles
## (server/playground/assets/) from the npm registry; versions are pinned in
## the script.
playground-assets:
	@scripts/playground-assets.sh

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: seed a throwaway MariaDB (1M users) and SQLite (100k) in bulk, load
## the real server and plugins, write docs/BENCHMARKS.md (about 10 minutes;
## BENCH_FLAGS="-mysql-users 20000 -sqlite-users 5000 -out /tmp/b.md" for a
## quick run).
bench: build
	@scripts/bench.sh $(BENCH_FLAGS)

clean:
	rm -rf bin
