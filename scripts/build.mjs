// `npm run build` and `prepare`: compiles the library and the worker to dist/ (tsc -p tsconfig.build.json), then
// bundles the CLI (src/cli/main.ts and everything it imports, node_modules included) into dist/cli.mjs, which
// bin/imagedrift.js loads: one file instead of its 215 modules, so a CLI start with no work takes about half the time
// (164 ms vs 297 ms, README "Performance"), and the script of the threads its fit spreads KMeans over beside it
// (dist/kmeans-thread.js). Native addons (onnxruntime-node, sharp) stay external.
// Last, dist/.stamp gets the time the build started, so scripts/ensure-deps.sh rebuilds after any later edit, even one
// saved while this ran.
import { spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
const bundle = (entry, outfile) =>
  build({
    entryPoints: [`${root}${entry}`],
    outfile: `${root}${outfile}`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node', 'sharp'],
    // CommonJS dependencies bundled into an ES module call `require` (node builtins, protobufjs's optional `long`).
    banner: { js: "import { createRequire as __imagedriftRequire } from 'node:module'; const require = __imagedriftRequire(import.meta.url);" },
    plugins: [zodEnglishOnly],
    logLevel: 'warning',
  });
await bundle('src/cli/main.ts', 'dist/cli.mjs');
// The CLI's fit (fitSpread) starts KMeans threads from the script beside the module it was bundled into.
await bundle('src/service/kmeans-thread.ts', 'dist/kmeans-thread.js');
writeFileSync(`${root}dist/.stamp`, '');
utimesSync(`${root}dist/.stamp`, started, started);
