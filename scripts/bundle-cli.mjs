// Bundles the CLI (src/cli/main.ts and everything it imports, node_modules included) into dist/cli.mjs, which
// bin/imagedrift.js loads. One file instead of its 215 modules (dist/src/ and node_modules): a CLI start (Node + the CLI's modules, no work) took
// about 300 ms from dist/src/ and 165 ms from the bundle (BENCHMARKS.md §1, "End to end with process start-up").
// Native addons (onnxruntime-node, sharp) stay external and load from node_modules as before.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  entryPoints: [`${root}src/cli/main.ts`],
  outfile: `${root}dist/cli.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['onnxruntime-node', 'sharp'],
  // CommonJS dependencies bundled into an ES module call `require` (node builtins, protobufjs's optional `long`).
  banner: { js: "import { createRequire as __imagedriftRequire } from 'node:module'; const require = __imagedriftRequire(import.meta.url);" },
  logLevel: 'warning',
});
