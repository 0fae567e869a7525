/**
 * `serverless package` succeeds offline with no AWS credentials, and each function's artifact holds only what it
 * needs: its esbuild bundle, plus the linux-x64 onnxruntime-node/sharp files for the functions that score images.
 * The packaged predict function is then unzipped and run (as Lambda would load it) against a local S3.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { unzipSync } from 'fflate';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { REPO } from '../helpers/paths.js';

const FUNCTIONS = ['health', 'upload', 'fit', 'calibrate', 'predict', 'jobStatus', 'audit', 'checkObject'];
const SCORING = new Set(['predict', 'audit', 'checkObject']);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

describe('serverless package (offline, no AWS credentials)', () => {
  let dir = '';
  let s3: S3Local;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-package-'));
    s3 = await startS3Local({ bucket: 'imagedrift-pkg' });
  });
  after(async () => {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('packages every function; artifacts hold only what each function needs', async () => {
    // No AWS_* variables at all (no credentials, no profile), a made-up region, no instance metadata lookups.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    Object.assign(env, { AWS_REGION: 'eu-test-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_LOAD_CONFIG: '0', SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_INTERACTIVE_SETUP_DISABLE: '1' });
    // A developer's shell after the local recipe (infra/README.md): none of it may reach a deployable stage.
    Object.assign(env, { S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' });
    const out = join(dir, 'artifacts');
    const t0 = performance.now();
    const r = await run(process.execPath, [join(REPO, 'node_modules/serverless/bin/serverless.js'), 'package', '--package', out, '--region', 'eu-test-1'], env, REPO);
    assert.equal(r.code, 0, r.out);
    const seconds = (performance.now() - t0) / 1000;

    const files = await readdir(out);
    const sizes: Record<string, number> = {};
    for (const fn of FUNCTIONS) {
      assert.ok(files.includes(`${fn}.zip`), `${fn}.zip in ${files.join(',')}`);
      sizes[fn] = (await stat(join(out, `${fn}.zip`))).size;
    }
    const template = JSON.parse(await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
    const lambdas = Object.values(template.Resources as Record<string, { Type: string; Properties: { Runtime?: string; Timeout?: number; Environment?: { Variables: Record<string, string> } } }>).filter((x) => x.Type === 'AWS::Lambda::Function');
    assert.ok(lambdas.filter((l) => l.Properties.Runtime === 'nodejs20.x').length >= FUNCTIONS.length);
    const text = JSON.stringify(template);
    assert.ok(!text.includes(s3.endpoint) && !text.includes('S3RVER'), 'the local S3 endpoint and keys stay out of the default stage');
    const ours = lambdas.filter((l) => l.Properties.Environment); // not the framework's custom-resource lambda
    assert.equal(ours.length, FUNCTIONS.length);
    for (const l of ours) {
      const v = l.Properties.Environment!.Variables;
      assert.equal(v.S3_ENDPOINT, '');
      assert.equal(v.JOB_ATTEMPTS, '5', 'job retries reach the functions that enqueue');
    }
    // Every function behind an HTTP API route answers within the integration's 30 s.
    const httpFns = Object.entries(template.Resources as Record<string, { Type: string; Properties: { IntegrationUri?: { 'Fn::GetAtt'?: [string, string] } } }>)
      .filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Integration')
      .map(([, r]) => r.Properties.IntegrationUri?.['Fn::GetAtt']?.[0]);
    assert.ok(httpFns.length >= 6);
    for (const logicalId of httpFns) {
      const fn = (template.Resources as Record<string, { Properties: { Timeout?: number } }>)[logicalId!]!;
      assert.ok((fn.Properties.Timeout ?? 6) <= 30, `${logicalId}: timeout ${fn.Properties.Timeout} s behind an HTTP API route`);
    }
    // The keyring (auth/*) can be read but never written by a function.
    const statements = JSON.stringify(template.Resources.IamRoleLambdaExecution);
    assert.match(statements, /"Effect":"Deny","Action":\["s3:PutObject","s3:DeleteObject"\],"Resource":[^\]]*auth\/\*/);

    for (const fn of FUNCTIONS) {
      const names = Object.keys(unzipSync(new Uint8Array(await readFile(join(out, `${fn}.zip`))), { filter: (f) => f.name.startsWith('handlers/') || f.name.endsWith('.node') || f.name.endsWith('package.json') }));
      assert.ok(names.includes(`handlers/${fn}.cjs`), `${fn}: bundle present`);
      const binaries = names.filter((n) => n.endsWith('.node'));
      if (SCORING.has(fn)) {
        assert.ok(binaries.includes('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node'), `${fn}: ORT binding`);
        assert.ok(binaries.some((n) => n.startsWith('node_modules/@img/sharp-linux-x64/')), `${fn}: sharp binding`);
        assert.ok(!binaries.some((n) => /darwin|win32|arm64/.test(n)), `${fn}: only linux-x64 binaries`);
      } else if (fn === 'upload') {
        assert.ok(binaries.some((n) => n.startsWith('node_modules/@img/sharp-linux-x64/')), 'upload: sharp');
        assert.ok(!names.some((n) => n.startsWith('node_modules/onnxruntime')), 'upload: no onnxruntime');
      } else {
        assert.deepEqual(names.filter((n) => n.startsWith('node_modules/')), [], `${fn}: bundle only`);
      }
    }
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    console.log(`serverless package: ${seconds.toFixed(1)} s; ${FUNCTIONS.map((f) => `${f} ${mb(sizes[f]!)}`).join(', ')}; total ${mb(total)}`);
  });

  test('the packaged predict function loads from its unzipped artifact and answers a request', async () => {
    const zip = unzipSync(new Uint8Array(await readFile(join(dir, 'artifacts', 'predict.zip'))));
    const root = join(dir, 'predict');
    const unzipped = Object.values(zip).reduce((a, b) => a + b.byteLength, 0);
    console.log(`predict artifact unzipped: ${(unzipped / 1024 / 1024).toFixed(1)} MB (Lambda limit 250 MB)`);
    assert.ok(unzipped < 250 * 1024 * 1024);
    for (const [name, bytes] of Object.entries(zip)) {
      if (name.endsWith('/')) continue;
      await mkdir(dirname(join(root, name)), { recursive: true });
      await writeFile(join(root, name), bytes);
    }
    // Outside the repo: nothing can be resolved from the repo's node_modules.
    const key = generateApiKey();
    const script = `
      const { handler } = require('./handlers/predict.cjs');
      require('onnxruntime-node'); require('sharp');
      handler({ pathParameters: { id: 'nodet' }, rawPath: '/detectors/nodet/predict', headers: { 'content-type': 'application/json', 'x-api-key': process.env.KEY }, body: JSON.stringify({ dataset: 'x' }) })
        .then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); });`;
    const env = { PATH: process.env.PATH, S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: s3.credentials.accessKeyId, S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, LOG_LEVEL: 'silent', NODE_NO_WARNINGS: '1', KEY: key, API_KEYS: JSON.stringify([{ id: 'k', tenant: 't', sha256: hashApiKey(key) }]) };
    const r = await run(process.execPath, ['-e', script], env, root);
    assert.equal(r.code, 0, r.out);
    const res = JSON.parse(r.out);
    assert.equal(res.statusCode, 404, r.out);
    assert.deepEqual(JSON.parse(res.body).error.field, 'detector');
  });
});
