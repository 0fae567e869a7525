#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/cli.cjs by `npm install` (prepare) or scripts/ensure-deps.sh
// (scripts/build.mjs: one file loads in about half the time of the modules it holds), and loaded with a V8 code cache
// per command (src/cli/compile-cache.ts: Node's own on Node ≥ 22.1, one of its own on Node 20), so that a process does
// not compile it again at every start.
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../dist/src/cli/compile-cache.js';

const args = process.argv.slice(2);
const bundle = loadBundle(fileURLToPath(new URL('../dist/cli.cjs', import.meta.url)), { key: args[0] ?? 'usage' });

// `imagedrift predict … --json | head`: the reader closing the pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await bundle.exports.main(args);
bundle.save();
