#!/bin/sh
# Installs the locked dependencies when node_modules is missing or older than package-lock.json,
# then builds dist/ (the library, compiled, and the CLI, bundled into dist/cli.cjs). Used by `npm run demo` and `npm test` so a fresh clone needs nothing else.
set -e
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "imagedrift: installing dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
# What the build reads: sources of the library, handlers and worker, the tsconfigs, the package files and the build
# script. dist/.stamp holds the time the last build started (scripts/build.mjs), so `npm ci`'s own build (prepare)
# counts, and an edit saved during a build is rebuilt next time.
if [ ! -f dist/src/index.js ] || [ ! -f dist/cli.cjs ] || [ ! -f dist/kmeans-thread.js ] || [ ! -f dist/.stamp ] || [ -n "$(find src handlers infra tsconfig.json tsconfig.build.json package.json package-lock.json scripts/build.mjs -newer dist/.stamp -type f 2>/dev/null | head -n 1)" ]; then
  node scripts/build.mjs
fi
