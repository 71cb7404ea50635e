#!/usr/bin/env bash
# Reproduces router/playground/assets/ from pinned npm packages, so that the
# GraphiQL playground is served from the binary (go:embed) and works offline.
# Run from anywhere: bash router/playground/fetch-assets.sh
set -euo pipefail

GRAPHIQL_VERSION=3.9.0   # last GraphiQL line that ships a standalone UMD bundle
REACT_VERSION=18.3.1     # GraphiQL 3 needs React 16.8-18; React 19 has no UMD builds
GRAPHQL_WS_VERSION=5.16.2

here="$(cd "$(dirname "$0")" && pwd)"
assets="$here/assets"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent \
  "graphiql@$GRAPHIQL_VERSION" \
  "react@$REACT_VERSION" \
  "react-dom@$REACT_VERSION" \
  "graphql-ws@$GRAPHQL_WS_VERSION" >/dev/null
for pkg in graphiql react react-dom graphql-ws; do
  mkdir -p "$pkg"
  tar -xzf "$pkg"-[0-9]*.tgz -C "$pkg"
done

rm -rf "$assets"
mkdir -p "$assets/licenses"

# The source maps are not shipped, so the references to them are dropped: a
# browser with developer tools open would otherwise ask for missing files.
strip_map() { sed -e 's|//# sourceMappingURL=[^ ]*$||' -e 's|/\*# sourceMappingURL=[^ ]* \*/$||' "$1" >"$2"; }

strip_map graphiql/package/graphiql.min.js "$assets/graphiql.min.js"
strip_map graphiql/package/graphiql.min.css "$assets/graphiql.min.css"
strip_map react/package/umd/react.production.min.js "$assets/react.production.min.js"
strip_map react-dom/package/umd/react-dom.production.min.js "$assets/react-dom.production.min.js"
strip_map graphql-ws/package/umd/graphql-ws.min.js "$assets/graphql-ws.min.js"

cp graphiql/package/LICENSE "$assets/licenses/graphiql.LICENSE"
cp react/package/LICENSE "$assets/licenses/react.LICENSE"
cp react-dom/package/LICENSE "$assets/licenses/react-dom.LICENSE"
cp graphql-ws/package/LICENSE.md "$assets/licenses/graphql-ws.LICENSE"

cat >"$assets/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL_VERSION
react $REACT_VERSION
react-dom $REACT_VERSION
graphql-ws $GRAPHQL_WS_VERSION
VERSIONS
echo "playground assets written to $assets"
