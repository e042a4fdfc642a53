#!/usr/bin/env bash
# Checks the container image as far as a machine that cannot pull images can:
#   1. runs the Dockerfile's build stage RUN lines, as written (cache mounts
#      dropped, /out moved to a temporary folder), in this checkout;
#   2. lays out the runtime stage's files as its COPY --from=build lines say;
#   3. checks every binary is static (CGO_ENABLED=0 in its build info, and
#      file/ldd where installed) and the manifest pins exactly the plugins
#      shipped, by their SHA-256;
#   4. checks the runtime stage: a distroless or scratch base, a non-root
#      USER, a VOLUME for the SQLite default, a HEALTHCHECK;
#   5. starts the laid-out server with the runtime stage's ENV (paths moved
#      under the layout, a free loopback port, a fresh seal key) and waits
#      until the HEALTHCHECK command passes and /readyz answers (the plugins
#      started under their pinned checksums).
# Run by `make test` (cmd/twofold's TestDockerBuildStage) and on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/twofold-docker-check.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "docker-build-check: $*" >&2
  exit 1
}

out="$work/out"
root="$work/root"
mkdir -p "$root"

# The Dockerfile as logical lines (continuations joined, comments dropped),
# each prefixed with its stage number.
awk '
  /^[[:space:]]*#/ { next }
  { line = line $0 }
  sub(/\\[[:space:]]*$/, " ", line) { next }
  line ~ /^[[:space:]]*$/ { line = ""; next }
  {
    if (line ~ /^[[:space:]]*FROM[[:space:]]/) stage++
    print stage "\t" line
    line = ""
  }
' Dockerfile >"$work/lines"
[[ $(cut -f1 "$work/lines" | sort -u | wc -l) -eq 2 ]] || fail "want two stages (build, runtime)"
stage_lines() { awk -F'\t' -v s="$1" '$1 == s { sub(/^[^\t]*\t/, ""); print }' "$work/lines"; }

# 1. The build stage.
grep -Eq '^FROM[[:space:]]+golang:[^[:space:]]+[[:space:]]+AS[[:space:]]+build$' <(stage_lines 1) \
  || fail "the first stage must be FROM golang:... AS build"
while IFS= read -r line; do
  case "$line" in
  ARG\ *=*)
    kv=${line#ARG }
    name=${kv%%=*}
    if [[ "$name" == TWOFOLD_COMMIT ]]; then
      export TWOFOLD_COMMIT="${TWOFOLD_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
    elif [[ -z "${!name+x}" ]]; then
      export "$kv"
    fi
    ;;
  RUN\ *)
    cmd=${line#RUN }
    cmd=$(sed -E 's/--mount=[^[:space:]]+[[:space:]]+//g' <<<"$cmd")
    cmd=$(sed -E "s#(^|[[:space:]])/out([/[:space:]]|\$)#\\1$out\\2#g" <<<"$cmd")
    echo "docker-build-check: RUN $cmd"
    sh -c "$cmd" || fail "build stage command failed: $cmd"
    ;;
  esac
done < <(stage_lines 1)
[[ -x "$out/twofold" ]] || fail "the build stage made no $out/twofold"

# 2. The runtime stage's files.
runtime=$(stage_lines 2)
dests=()
while read -r -a words; do
  [[ "${words[0]}" == COPY && "${words[1]}" == --from=build ]] || continue
  src=${words[-2]} dst=${words[-1]}
  [[ "$src" == /out || "$src" == /out/* ]] || fail "COPY --from=build of $src: the build stage writes to /out"
  from="$out${src#/out}"
  [[ -e "$from" ]] || fail "COPY --from=build $src: the build stage did not make it"
  mkdir -p "$(dirname "$root$dst")"
  cp -a "$from" "$root$dst"
  dests+=("$dst")
done <<<"$runtime"

# 3. Static binaries and the manifest.
want_plugins=$(for m in plugins/*/main.go; do n=$(basename "$(dirname "$m")"); [[ $n == example ]] || echo "$n"; done | sort)
have_plugins=$(ls "$out/plugins" | sort)
[[ "$want_plugins" == "$have_plugins" ]] || fail "plugins built: $(echo $have_plugins), want $(echo $want_plugins)"
pinned=$(awk '{print $2}' "$out/plugins.sha256" | sort)
[[ "$pinned" == "$have_plugins" ]] || fail "the manifest pins $(echo $pinned), the image ships $(echo $have_plugins)"
(cd "$out/plugins" && sha256sum --quiet -c ../plugins.sha256) || fail "the manifest does not match the plugins"
for bin in "$out/twofold" "$out"/plugins/*; do
  go version -m "$bin" | grep -Eq '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$' || fail "$bin was not built with CGO_ENABLED=0"
  if command -v file >/dev/null; then
    file -b "$bin" | grep -Eq 'statically linked|static-pie linked' || fail "$bin is not static: $(file -b "$bin")"
  elif command -v ldd >/dev/null; then
    if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
      fail "$bin is dynamic: $(ldd "$bin" 2>&1)"
    fi
  fi
done
echo "docker-build-check: static binaries: twofold $(echo $have_plugins); manifest matches"

# 4. The runtime stage's shape.
grep -Eq '^FROM[[:space:]]+(gcr\.io/distroless/static[^[:space:]]*|scratch)$' <<<"$runtime" \
  || fail "the runtime stage must be distroless static (or scratch): $(grep '^FROM' <<<"$runtime")"
user=$(awk '$1 == "USER" { u = $2 } END { print u }' <<<"$runtime")
[[ -n "$user" && "${user%%:*}" != 0 && "${user%%:*}" != root ]] || fail "the runtime stage must run as a non-root USER (got '${user}')"
grep -Eq '^HEALTHCHECK[[:space:]].*CMD[[:space:]]' <<<"$runtime" || fail "no HEALTHCHECK"
env_lines=$(awk '$1 == "ENV" { sub(/^ENV[[:space:]]+/, ""); print }' <<<"$runtime")
db_url=$(sed -n 's/^TWOFOLD_DATABASE_URL=//p' <<<"$env_lines")
db_dir=$(dirname "${db_url#sqlite://}")
grep -Eq "^VOLUME[[:space:]]+\[?\"?$db_dir\"?\]?\$" <<<"$runtime" || fail "the SQLite folder $db_dir is not a VOLUME"

# 5. Start it as the image would, and ask its health check.
# relocate moves the image path in a value (the longest COPY destination
# it holds) under the layout.
relocate() {
  local v=$1 d best=""
  for d in "${dests[@]}"; do
    if [[ "$v" == *"$d"* && ${#d} -gt ${#best} ]]; then best=$d; fi
  done
  [[ -n "$best" ]] && v=${v/"$best"/"$root$best"}
  printf '%s' "$v"
}
health=$(sed -nE 's/^HEALTHCHECK[[:space:]].*CMD[[:space:]]+\[(.*)\]$/\1/p' <<<"$runtime")
health_cmd=()
IFS=, read -r -a parts <<<"$health"
for p in "${parts[@]}"; do
  p=$(sed -E 's/^[[:space:]]*"//; s/"[[:space:]]*$//' <<<"$p")
  health_cmd+=("$(relocate "$p")")
done
entry=$(relocate "$(sed -nE 's/^ENTRYPOINT[[:space:]]+\["([^"]+)"\]$/\1/p' <<<"$runtime")")
[[ -x "$entry" ]] || fail "the ENTRYPOINT is not an executable of the image"
image_env=(env -i "PATH=/usr/bin:/bin" "TMPDIR=$work")
while IFS= read -r kv; do
  [[ -n "$kv" ]] && image_env+=("${kv%%=*}=$(relocate "${kv#*=}")")
done <<<"$env_lines"
seal_key=$(head -c 32 /dev/urandom | base64)
for attempt in 1 2 3; do
  port=$((20000 + RANDOM % 20000))
  addr="127.0.0.1:$port"
  workdir=$(relocate "$(awk '$1 == "WORKDIR" { w = $2 } END { print w }' <<<"$runtime")")
  (cd "$workdir" && exec "${image_env[@]}" "TWOFOLD_SEAL_KEY=$seal_key" "TWOFOLD_HTTP_ADDR=$addr" "$entry" serve) \
    >"$work/server.log" 2>&1 &
  server_pid=$!
  healthy=""
  for _ in $(seq 1 150); do
    if "${image_env[@]}" "TWOFOLD_HTTP_ADDR=$addr" "${health_cmd[@]}" 2>/dev/null; then healthy=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  [[ -n "$healthy" ]] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  grep -q "address already in use" "$work/server.log" || { cat "$work/server.log" >&2; fail "the server did not become healthy"; }
done
[[ -n "$server_pid" ]] || fail "no free port"
"$entry" healthcheck --url "http://$addr/readyz" || { cat "$work/server.log" >&2; fail "/readyz: the database or a plugin is not ready"; }
[[ -s "$root${db_url#sqlite://}" ]] || fail "no SQLite database in the data volume"
echo "docker-build-check: the image's server answered its HEALTHCHECK and /readyz with $(echo $have_plugins) under their pins"
echo "docker-build-check: ok"
