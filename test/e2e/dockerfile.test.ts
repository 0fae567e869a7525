/**
 * The worker image cannot be built here (no registry for the CUDA base image, no GPU), so its recipe is checked
 * statically against the files it depends on: `npm ci` runs package.json's `prepare` script (scripts/build.mjs: a tsc
 * build, then the CLI bundle), so that script and every file the build reads must be copied into the image before that
 * RUN line. (Twice they were not: the image could not build.)
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
  // prepare runs a build script (it must be in the image), which runs tsc on a project and bundles the CLI from src/.
  const script = /^node\s+(\S+)$/.exec(prepare)?.[1];
  assert.ok(script, `prepare runs one node script: ${prepare}`);
  const scriptText = readFileSync(join(REPO, script), 'utf8');
  const project = /'-p',\s*'([^']+)'/.exec(scriptText)?.[1];
  assert.ok(project, `${script} builds a tsc project`);
  // Every bundle entry (the CLI, the KMeans thread beside it) is a file the image has.
  const entries = [...scriptText.matchAll(/entryPoints: \[`\$\{root\}([^`]+)`\]/g)].map((m) => m[1]!);
  assert.ok(entries.includes('src/cli/main.ts'), `${script} bundles the CLI from src/ (entries: ${entries.join(', ')})`);
  const cfg = JSON.parse(readFileSync(join(REPO, project), 'utf8')) as { extends?: string; include: string[] };
  const needed = [script, 'tsconfig.json', project, ...(cfg.extends ? [cfg.extends.replace(/^\.\//, '')] : []), ...cfg.include.map((g) => g.split('/')[0]!), ...entries];
  const isCopied = (f: string) => copied.has(f) || copied.has(f.split('/')[0]!); // the file, or its whole top folder
  for (const f of needed) {
    assert.ok(existsSync(join(REPO, f)), `${f} exists`);
    assert.ok(isCopied(f), `${f} is copied before \`RUN npm ci\` (copied: ${[...copied].join(' ')})`);
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
