#!/bin/sh
# The README's test command (`npm test`): install if needed, type-check, lint, then every test file, one at a time
# (integration tests share Redis, s3rver ports and the CPU). Node 20's test runner does not expand globs itself.
set -e
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
# The Lambda runtime's Node, for test/e2e/package.test.ts (linux-x64 hosts; elsewhere that test says why it skips).
sh scripts/lambda-node.sh >/dev/null || echo "imagedrift: could not fetch the Lambda runtime's Node; test/e2e/package.test.ts will report it" >&2
npx --no-install tsc -p tsconfig.json --noEmit
# Async-correctness lint (eslint.config.mjs): floating and misused promises.
npx --no-install eslint .
# test/helpers/file-deadline.ts fails a file whose process outlives its deadline (the runner has no per-file timeout).
exec node --import tsx --import "$PWD/test/helpers/file-deadline.ts" --test --test-concurrency=1 $(find test -name '*.test.ts' | LC_ALL=C sort)
