#!/usr/bin/env bash
# Refreshes server/playground/assets/ (embedded in the binary, served at
# /playground/assets/) from the npm registry: GraphiQL's UMD bundle and
# stylesheet and the React 18 UMD builds it expects, with their licences.
# Bump a version here, run `make playground-assets`, and commit the result.
set -euo pipefail

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.3.1

cd "$(dirname "$0")/.."
out=server/playground/assets
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null)
for pkg in "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION"; do
	name=${pkg%@*}
	mkdir -p "$work/$name"
	tar -xzf "$work/$name-${pkg#*@}.tgz" -C "$work/$name"
done

rm -rf "$out"
mkdir -p "$out"
cp "$work/graphiql/package/graphiql.min.js" "$work/graphiql/package/graphiql.min.css" "$out/"
cp "$work/graphiql/package/LICENSE" "$out/LICENSE.graphiql"
cp "$work/react/package/umd/react.production.min.js" "$out/"
cp "$work/react/package/LICENSE" "$out/LICENSE.react"
cp "$work/react-dom/package/umd/react-dom.production.min.js" "$out/"
cp "$work/react-dom/package/LICENSE" "$out/LICENSE.react-dom"
# The bundles end with a source map comment; the maps are not shipped.
sed -i -e 's|^//# sourceMappingURL=.*$||' "$out"/*.js
sed -i -e 's|/\*# sourceMappingURL=.*\*/||' "$out"/*.css

cat > "$out/README.md" <<README
# Playground assets

Served from the binary at \`/playground/assets/\` (\`server/playground.go\`); no request
leaves the server. Fetched from the npm registry by \`make playground-assets\`
(\`scripts/playground-assets.sh\`); do not edit by hand.

| file | package | licence |
|---|---|---|
| graphiql.min.js, graphiql.min.css | graphiql@$GRAPHIQL_VERSION (UMD build) | MIT, LICENSE.graphiql |
| react.production.min.js | react@$REACT_VERSION (umd/) | MIT, LICENSE.react |
| react-dom.production.min.js | react-dom@$REACT_VERSION (umd/) | MIT, LICENSE.react-dom |

graphiql.min.js is GraphiQL's own UMD bundle: @graphiql/react and its dependencies (graphql,
CodeMirror 5, markdown-it, Radix UI, framer-motion and smaller modules), each under a permissive
licence (MIT; entities BSD-2-Clause; tslib 0BSD); every module keeps its package path in the
bundle. The source maps are not shipped.
README
echo "playground assets: graphiql@$GRAPHIQL_VERSION react@$REACT_VERSION react-dom@$REACT_VERSION in $out"
