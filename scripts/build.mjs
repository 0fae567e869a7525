// `npm run build` and `prepare`: compiles the library and the worker to dist/ (tsc -p tsconfig.build.json), then
// bundles the CLI (src/cli/main.ts and everything it imports, node_modules included) into dist/cli.mjs, which
// bin/imagedrift.js loads: one file instead of the modules it holds, so a CLI start with no work takes about half the time
// (README "Performance"), and the script of the threads its fit spreads KMeans over beside it
// (dist/kmeans-thread.js). Native addons (onnxruntime-node, sharp) stay external.
// Last, dist/.stamp gets the time the build started, so scripts/ensure-deps.sh rebuilds after any later edit, even one
// saved while this ran.
import { spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const started = new Date();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
// zod exports every message locale (`z.locales`, ~40 languages, 360 KB of the bundle's 1.75 MB); imagedrift uses the
// default English messages only, so the bundle gets English alone: every CLI process parses that much less at start
// (about 20 ms of ~150 ms on this machine).
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: "export { default as en } from './en.js';", loader: 'js' }));
  },
};
// onnxruntime-node is CommonJS. Imported from an ES module (`await import('onnxruntime-node')`, src/model/session.ts),
// Node first scans its files for their export names (cjs-module-lexer) and wraps them; `require` skips that, about
// 11 ms of each CLI process that runs a model. The bundle's `import('onnxruntime-node')` gets this one-line module,
// bundled, whose `require` (the banner's) loads the real package from node_modules as before.
const ortByRequire = {
  name: 'onnxruntime-by-require',
  setup(b) {
    b.onResolve({ filter: /^onnxruntime-node$/ }, (a) => (a.namespace === 'ort-require' ? { path: a.path, external: true } : { path: a.path, namespace: 'ort-require' }));
    b.onLoad({ filter: /^/, namespace: 'ort-require' }, () => ({ contents: "module.exports = require('onnxruntime-node');", loader: 'js' }));
  },
};
// onnx-proto's protobufjs asks for the optional 'long' package through @protobufjs/inquire, a `require(name)` esbuild
// cannot follow: every CLI process then loaded node_modules/long a second time through Node's CommonJS loader (it is
// already in the bundle, for the other protobufjs). This inquire names 'long' statically, so the bundled one answers:
// a start with no work took 273 ms of CPU instead of 302 (median of 20, interleaved, 2026-11-29).
const inquireBundled = {
  name: 'protobufjs-inquire-bundled',
  setup(b) {
    b.onLoad({ filter: /[\\/]@protobufjs[\\/]inquire[\\/]index\.js$/ }, (a) => ({
      contents: `"use strict";
module.exports = function inquire(moduleName) {
  try {
    var mod = moduleName === "long" ? require("long") : require(moduleName);
    if (mod && (mod.length || Object.keys(mod).length)) return mod;
    return null;
  } catch (err) {
    return null;
  }
};`,
      loader: 'js',
      resolveDir: dirname(a.path),
    }));
  },
};
const bundle = (entry, outfile) =>
  build({
    entryPoints: [`${root}${entry}`],
    outfile: `${root}${outfile}`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node', 'sharp'],
    // CommonJS dependencies bundled into an ES module call `require` (node builtins, onnxruntime-node).
    banner: { js: "import { createRequire as __imagedriftRequire } from 'node:module'; const require = __imagedriftRequire(import.meta.url);" },
    plugins: [zodEnglishOnly, ortByRequire, inquireBundled],
    // Without comments and indentation the bundle is 30% smaller, and pure ASCII (its comments hold ×, —, …): V8 keeps
    // an ASCII source as one byte per character, where one non-ASCII character makes Node decode the whole file into
    // a two-byte string. Every process reads, decodes and pre-parses the whole bundle. Names are kept (no renaming).
    minifyWhitespace: true,
    logLevel: 'warning',
  });
await bundle('src/cli/main.ts', 'dist/cli.mjs');
// The CLI's fit (fitSpread) starts KMeans threads from the script beside the module it was bundled into.
await bundle('src/service/kmeans-thread.ts', 'dist/kmeans-thread.js');
writeFileSync(`${root}dist/.stamp`, '');
utimesSync(`${root}dist/.stamp`, started, started);
