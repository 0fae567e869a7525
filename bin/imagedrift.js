#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/cli.mjs by `npm install` (prepare) or scripts/ensure-deps.sh
// (scripts/build.mjs: one file loads in about half the time of the modules it holds).
import nodeModule from 'node:module';

// V8's compile cache for the bundle (Node ≥ 22.1; on Node 20 there is none and the bundle is compiled at every start).
// Enabled before the bundle is imported, hence the dynamic import below.
nodeModule.enableCompileCache?.();
const { main } = await import('../dist/cli.mjs');

// `imagedrift predict … --json | head`: the reader closing the pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
