#!/bin/sh
# Installs the locked dependencies when node_modules is missing or older than package-lock.json,
# then builds dist/ (the library, compiled, and the CLI, bundled into dist/cli.mjs). Used by `npm run demo` and `npm test` so a fresh clone needs nothing else.
set -e
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "imagedrift: installing dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
if [ ! -f dist/src/index.js ] || [ ! -f dist/cli.mjs ] || [ ! -f dist/.stamp ] || [ -n "$(find src bin scripts/bundle-cli.mjs package-lock.json -newer dist/.stamp \( -name '*.ts' -o -name '*.mjs' -o -name '*.json' \) 2>/dev/null | head -n 1)" ]; then
  npx --no-install tsc -p tsconfig.build.json
  node scripts/bundle-cli.mjs
  touch dist/.stamp
fi
