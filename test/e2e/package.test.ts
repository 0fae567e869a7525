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
const REDIS_URL = 'rediss://redis.internal.example:6379';
const SLS_ENV = { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_INTERACTIVE_SETUP_DISABLE: '1' };
/** The Lambda runtime's Node (scripts/lambda-node.sh; `npm test` fetches it first). */
async function lambdaNode(): Promise<string> {
  const r = await run('sh', [join(REPO, 'scripts/lambda-node.sh')], process.env, REPO);
  assert.equal(r.code, 0, r.out);
  return r.out.trim().split('\n').at(-1)!;
}

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
    Object.assign(env, { AWS_REGION: 'eu-test-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_LOAD_CONFIG: '0', ...SLS_ENV });
    // A developer's shell after the local recipe (infra/README.md): none of it may reach a deployable stage.
    Object.assign(env, { S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL });
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
    // Every function, the framework's S3-notification helper included, on the runtime serverless.yml names, which
    // Lambda still accepts (nodejs18.x and nodejs20.x can no longer be created).
    const runtime = /^\s+runtime: (nodejs\d+\.x)$/m.exec(await readFile(join(REPO, 'serverless.yml'), 'utf8'))![1]!;
    assert.equal(runtime, 'nodejs24.x');
    assert.deepEqual(new Set(lambdas.map((l) => l.Properties.Runtime)), new Set([runtime]));
    assert.equal(lambdas.length, FUNCTIONS.length + 1, 'our functions and the S3-notification helper');
    assert.equal(template.Resources.CustomDashresourceDashexistingDashs3LambdaFunction?.Properties.Runtime, runtime);
    // Deployed stages name their Redis: no loopback default (see the next test for packaging without REDIS_URL).
    for (const l of lambdas.filter((x) => x.Properties.Environment)) assert.equal(l.Properties.Environment!.Variables.REDIS_URL, REDIS_URL);
    // The asynchronously invoked functions keep events that failed every retry in an SQS queue.
    const res = template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
    const invokeConfigs = Object.values(res).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig');
    assert.deepEqual(invokeConfigs.map((r) => (r.Properties.FunctionName as { Ref: string }).Ref).sort(), ['AuditLambdaFunction', 'CheckObjectLambdaFunction']);
    for (const c of invokeConfigs) {
      assert.deepEqual(c.Properties.DestinationConfig, { OnFailure: { Destination: { 'Fn::GetAtt': ['FailedEventsQueue', 'Arn'] } } });
      assert.equal(c.Properties.MaximumRetryAttempts, 2);
    }
    assert.equal(res.FailedEventsQueue?.Type, 'AWS::SQS::Queue');
    assert.match(JSON.stringify(template.Resources.IamRoleLambdaExecution), /"Action":"sqs:SendMessage","Resource":\{"Fn::GetAtt":\["FailedEventsQueue","Arn"\]\}/);
    // The HTTP API throttles before any function starts.
    assert.deepEqual(res.HttpApiStage?.Properties.DefaultRouteSettings, { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    const text = JSON.stringify(template);
    assert.ok(!text.includes(s3.endpoint) && !text.includes('S3RVER'), 'the local S3 endpoint and keys stay out of the default stage');
    const ours = lambdas.filter((l) => l.Properties.Environment); // not the framework's custom-resource lambda
    assert.equal(ours.length, FUNCTIONS.length);
    for (const l of ours) {
      const v = l.Properties.Environment!.Variables;
      assert.equal(v.S3_ENDPOINT, '');
      assert.equal(v.JOB_ATTEMPTS, '5', 'job retries reach the functions that enqueue');
      assert.equal(v.METRICS, 'emf', 'audit metrics as CloudWatch EMF');
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
    // The keyring (auth/*, and API_KEYS_OBJECT wherever it is) can be read but never written by a function.
    const statements = JSON.stringify(template.Resources.IamRoleLambdaExecution);
    assert.match(statements, /"Effect":"Deny","Action":\["s3:PutObject","s3:DeleteObject"\],"Resource":\["arn:aws:s3:::imagedrift-data\/auth\/\*","arn:aws:s3:::imagedrift-data\/auth\/api-keys.json"\]/);

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

  // The Lambda runtime's Node is fetched for linux-x64 hosts (Lambda's own platform here); elsewhere this one step is
  // skipped with the reason, and a failed fetch on linux-x64 is a failure.
  const lambdaHost = process.platform === 'linux' && process.arch === 'x64';
  test('every packaged handler loads on the Lambda runtime\'s Node; predict answers a request from its unzipped artifact', { skip: lambdaHost ? false : `the Lambda runtime's Node is fetched for linux-x64 only (this is ${process.platform}-${process.arch})` }, async () => {
    const node = await lambdaNode();
    const version = (await run(node, ['--version'], { PATH: process.env.PATH }, dir)).out.trim();
    assert.match(version, /^v24\./, 'the Node of serverless.yml\'s nodejs24.x');
    for (const fn of FUNCTIONS.filter((f) => f !== 'predict')) {
      const root = join(dir, fn);
      for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(await readFile(join(dir, 'artifacts', `${fn}.zip`)))))) {
        if (name.endsWith('/')) continue;
        await mkdir(dirname(join(root, name)), { recursive: true });
        await writeFile(join(root, name), bytes);
      }
      const r = await run(node, ['-e', `process.stdout.write(typeof require('./handlers/${fn}.cjs').handler)`], { PATH: process.env.PATH, NODE_NO_WARNINGS: '1' }, root);
      assert.equal(`${r.code} ${r.out}`, '0 function', `${fn} on ${version}`);
      await rm(root, { recursive: true, force: true });
    }

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
    const r = await run(node, ['-e', script], env, root);
    assert.equal(r.code, 0, r.out);
    const res = JSON.parse(r.out);
    assert.equal(res.statusCode, 404, r.out);
    assert.deepEqual(JSON.parse(res.body).error.field, 'detector');
  });

  test('a stage other than local will not package without REDIS_URL; a stage with infra/stages/<stage>.vpc.yml gets its VPC', async () => {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && k !== 'REDIS_URL'));
    Object.assign(env, { AWS_REGION: 'eu-test-1', AWS_EC2_METADATA_DISABLED: 'true', ...SLS_ENV });
    const sls = join(REPO, 'node_modules/serverless/bin/serverless.js');
    const missing = await run(process.execPath, [sls, 'print', '--stage', 'prod'], env, REPO);
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /Cannot resolve variable at "params\.default\.redisUrl"/);
    const local = await run(process.execPath, [sls, 'print', '--stage', 'local', '--format', 'json'], env, REPO);
    assert.equal(local.code, 0, local.out);
    const localCfg = JSON.parse(local.out.slice(local.out.indexOf('{'), local.out.lastIndexOf('}') + 1));
    assert.equal(localCfg.provider.environment.REDIS_URL, 'redis://127.0.0.1:6379', 'stage local defaults to the loopback Redis');
    assert.equal(localCfg.provider.vpc, null, 'no VPC file for stage local');
    const example = await run(process.execPath, [sls, 'print', '--stage', 'example', '--format', 'json'], { ...env, REDIS_URL }, REPO);
    assert.equal(example.code, 0, example.out);
    const cfg = JSON.parse(example.out.slice(example.out.indexOf('{'), example.out.lastIndexOf('}') + 1));
    assert.equal(cfg.provider.environment.REDIS_URL, REDIS_URL);
    assert.deepEqual(cfg.provider.vpc, { subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'], securityGroupIds: ['sg-0123456789abcdef0'] });
  });
});
