/**
 * The worker image cannot be built here (no registry for the CUDA base image, no GPU), so its recipe is checked
 * statically against the files it depends on: `npm ci` runs package.json's `prepare` script (a tsc build), so every
 * file that build reads must be copied into the image before that RUN line. (It once was not: the image could not build.)
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/paths.js';

test('Dockerfile.worker copies what `npm ci` (its prepare build) needs before running it, and starts a file the build makes', () => {
  const lines = readFileSync(join(REPO, 'infra/Dockerfile.worker'), 'utf8').split('\n');
  const build = lines.slice(lines.findIndex((l) => /^FROM base AS build/.test(l)));
  const ci = build.findIndex((l) => /^RUN npm ci\b/.test(l));
  assert.ok(ci > 0, 'the build stage runs npm ci');
  const copied = new Set(
    build
      .slice(0, ci)
      .filter((l) => l.startsWith('COPY '))
      .flatMap((l) => l.replace(/^COPY\s+/, '').split(/\s+/).slice(0, -1)),
  );
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const prepare = pkg.scripts.prepare!;
  const project = /-p\s+(\S+)/.exec(prepare)?.[1];
  assert.ok(project, `prepare builds a tsc project: ${prepare}`);
  const cfg = JSON.parse(readFileSync(join(REPO, project), 'utf8')) as { extends?: string; include: string[] };
  const needed = [project, ...(cfg.extends ? [cfg.extends.replace(/^\.\//, '')] : []), ...cfg.include.map((g) => g.split('/')[0]!)];
  for (const f of needed) {
    assert.ok(existsSync(join(REPO, f)), `${f} exists`);
    assert.ok(copied.has(f), `${f} is copied before \`RUN npm ci\` (copied: ${[...copied].join(' ')})`);
  }
  const text = lines.join('\n');
  // The worker runs the Node major of the Lambda functions, and the image fails to build without ORT's CUDA provider.
  const lambdaMajor = /^\s+runtime: nodejs(\d+)\.x$/m.exec(readFileSync(join(REPO, 'serverless.yml'), 'utf8'))?.[1];
  assert.equal(/deb\.nodesource\.com\/setup_(\d+)\.x/.exec(text)?.[1], lambdaMajor);
  assert.match(text, /^ENV ONNXRUNTIME_NODE_INSTALL=true$/m, 'overrides .npmrc\'s skip with a value ORT\'s install script parses');
  assert.match(text, /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/);
  const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(text)?.[1];
  assert.equal(cmd, 'dist/infra/worker.js');
  assert.ok(cfg.include.includes('infra/**/*.ts') && existsSync(join(REPO, 'infra/worker.ts')), 'the build compiles infra/worker.ts to dist/infra/worker.js');
});
