// `npm run build` and `prepare`: compiles the library and the worker to dist/ (tsc -p tsconfig.build.json), then
// bundles the CLI (src/cli/main.ts and everything it imports, node_modules included) into dist/cli.cjs, which
// bin/imagedrift.js loads with a code cache (src/cli/compile-cache.ts): one file instead of the modules it holds, so a
// CLI start with no work takes about half the time (README "Performance"), and the script of the threads its fit
// spreads KMeans over beside it (dist/kmeans-thread.js). Native addons (onnxruntime-node, sharp) stay external.
// The CLI bundle is CommonJS because Node 20 can hand V8 a code cache only for a script (vm.Script), not for an ES module.
// Last, dist/.stamp gets the time the build started, so scripts/ensure-deps.sh rebuilds after any later edit, even one
// saved while this ran.
import { spawnSync } from 'node:child_process';
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
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
// A dynamic import() of a package left outside the bundle (onnxruntime-node, sharp, node:crypto) would stay an
// import() in the CommonJS bundle, which a vm.Script cannot run without an experimental Node option (and which, for
// onnxruntime-node, a CommonJS package, makes Node scan its files for export names first: about 11 ms of each CLI
// process that runs a model). Each gets this one-line bundled module instead, whose `require` loads the real package
// from node_modules as before. The build fails if any other external import() is left (checked on the metafile).
const externalByRequire = {
  name: 'external-by-require',
  setup(b) {
    b.onResolve({ filter: /^(onnxruntime-node|sharp|node:[a-z_/]+)$/ }, (a) =>
      a.namespace === 'by-require' ? { path: a.path, external: true } : a.kind === 'dynamic-import' ? { path: a.path, namespace: 'by-require' } : undefined,
    );
    b.onLoad({ filter: /^/, namespace: 'by-require' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
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
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['onnxruntime-node', 'sharp'],
  // Without comments and indentation the bundle is 30% smaller, and pure ASCII (its comments hold ×, —, …): V8 keeps
  // an ASCII source as one byte per character, where one non-ASCII character makes Node decode the whole file into
  // a two-byte string. Every process reads, decodes and pre-parses the whole bundle. Names are kept (no renaming).
  minifyWhitespace: true,
  logLevel: 'warning',
};
const cli = await build({
  ...common,
  entryPoints: [`${root}src/cli/main.ts`],
  outfile: `${root}dist/cli.cjs`,
  format: 'cjs',
  // The modules' import.meta (assets.ts finds the package root from it, threads.ts the thread script beside it).
  define: { 'import.meta.url': '__imagedriftUrl', 'import.meta.resolve': '__imagedriftResolve' },
  banner: { js: "const __imagedriftUrl = require('node:url').pathToFileURL(__filename).href; const __imagedriftResolve = (s) => require('node:url').pathToFileURL(require.resolve(s)).href;" },
  plugins: [zodEnglishOnly, externalByRequire, inquireBundled],
  metafile: true,
});
const leftDynamic = Object.values(cli.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.kind === 'dynamic-import' && i.external));
if (leftDynamic.length > 0) {
  console.error(`build: the CLI bundle keeps a dynamic import() of ${leftDynamic.map((i) => i.path).join(', ')}; add it to externalByRequire`);
  process.exit(1);
}
// The CLI's fit (fitSpread) starts KMeans threads from the script beside the bundle: an ES module, as the thread
// imports it.
await build({
  ...common,
  entryPoints: [`${root}src/service/kmeans-thread.ts`],
  outfile: `${root}dist/kmeans-thread.js`,
  format: 'esm',
  // CommonJS dependencies bundled into an ES module call `require` (node builtins).
  banner: { js: "import { createRequire as __imagedriftRequire } from 'node:module'; const require = __imagedriftRequire(import.meta.url);" },
});
rmSync(`${root}dist/cli.mjs`, { force: true }); // the ES-module bundle of earlier builds
writeFileSync(`${root}dist/.stamp`, '');
utimesSync(`${root}dist/.stamp`, started, started);
