/**
 * `serverless package` succeeds offline with no AWS credentials, and each function's artifact holds only what it
 * needs: its esbuild bundle, plus the linux-x64 onnxruntime-node/sharp files for the functions that score images.
 * The packaged predict function is then unzipped and run (as Lambda would load it) against a local S3.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { unzipSync } from 'fflate';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import { generateApiKey, hashApiKey } from '../../src/auth/api-keys.js';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';
import { REPO } from '../helpers/paths.js';
import { evaluateCondition, functionRoleId, roleStatements, run, SLS_BIN, SLS_ENV, slsPackage, type Template } from '../helpers/serverless.js';

const FUNCTIONS = ['health', 'upload', 'fit', 'calibrate', 'predict', 'jobStatus', 'describe', 'audit', 'retention', 'checkObject'];
const SCORING = new Set(['predict', 'audit', 'checkObject']);
const REDIS_URL = 'rediss://redis.internal.example:6379';
/** The Lambda runtime's Node (scripts/lambda-node.sh; `npm test` fetches it first). */
async function lambdaNode(): Promise<string> {
  const r = await run('sh', [join(REPO, 'scripts/lambda-node.sh')], process.env, REPO);
  assert.equal(r.code, 0, r.out);
  return r.out.trim().split('\n').at(-1)!;
}

/**
 * What each function's role may do in S3 (src/service/*, src/queue/client.ts, src/http/auth.ts; infra/README.md, "IAM"):
 * object ARNs per action, and whether it may list the bucket (every role that reads: S3 answers a read of a missing
 * key 403 instead of 404 without it). The keyring entries exist only while API_KEYS_OBJECT names an object (condition
 * HasKeyringObject).
 */
const BUCKET = 'arn:aws:s3:::imagedrift-data';
const KEYRING = 'auth/api-keys.json';
const t = (p: string) => `tenants/*/${p}`;
const obj = (...keys: string[]) => keys.map((k) => `${BUCKET}/${k}`);
type S3Grants = { get: string[]; put: string[]; del: string[]; list: boolean };
const EXPECTED_S3: Record<string, S3Grants> = {
  health: { get: [], put: [], del: [], list: false },
  upload: {
    get: obj(KEYRING, t('datasets/*'), t('models/*'), t('uploads/*')),
    put: obj(t('datasets/*'), t('models/*'), t('uploads/*')),
    del: obj(t('datasets/*'), t('models/*'), t('uploads/*')),
    list: true,
  },
  fit: { get: obj(KEYRING, t('datasets/*'), t('models/*')), put: [], del: [], list: true },
  calibrate: { get: obj(KEYRING, 'tenants/*'), put: [], del: [], list: true },
  predict: {
    get: obj(KEYRING, t('detectors/*'), t('models/*'), t('datasets/*')),
    put: obj(t('datasets/*')),
    del: obj(t('datasets/*')),
    list: true,
  },
  jobStatus: { get: obj(KEYRING, t('jobs/*/result.json')), put: [], del: [], list: true },
  // Detectors' pointers and manifests, read only; the tenant's detector list is a ListBucket (Delimiter "/").
  describe: { get: obj(KEYRING, t('detectors/*')), put: [], del: [], list: true },
  audit: { get: obj(KEYRING, 'tenants/*'), put: obj(t('audits/*')), del: [], list: true },
  // Reads the pointers and cursors only; deletes exactly the key shapes the retention policy may return; and its own
  // cursor (where a tenant's pass stopped), read, written and deleted.
  retention: {
    get: obj(KEYRING, t('detectors/*/current.json'), t('audits/*/cursor.json'), t('retention/cursor.json')),
    put: obj(t('retention/cursor.json')),
    del: obj(t('uploads/*/data'), t('uploads/*/upload.json'), t('jobs/*/claim'), t('jobs/*/result.json'), t('detectors/*/v*/*'), t('audits/*/2*.json'), t('retention/cursor.json')),
    list: true,
  },
  checkObject: { get: obj('incoming/*', t('detectors/*'), t('models/*')), put: obj(t('results/*')), del: [], list: true },
};
const ASYNC_FUNCTIONS = new Set(['audit', 'retention', 'checkObject']); // onFailure → FailedEventsQueue
const KEYRING_DENY = { Effect: 'Deny', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: obj('auth/*', KEYRING) };

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}
const list = <T,>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
const sorted = (xs: string[]) => [...xs].sort();

/**
 * Every function runs under a role of its own, and each role holds exactly what EXPECTED_S3 says (without the keyring
 * entries when `conditions` turns HasKeyringObject off), logs, and no more.
 */
function checkRoles(template: Template, conditions: Record<string, boolean> = {}): void {
  const r = template.Resources;
  const holds = (name: string) => conditions[name] ?? evaluateCondition(template.Conditions?.[name]);
  const keyring = holds('HasKeyringObject');
  // No shared role: the framework's IamRoleLambdaExecution (all functions, Get/Put/Delete on the whole bucket) is gone.
  assert.equal(r.IamRoleLambdaExecution, undefined, 'no shared framework role');
  const roleIds = new Set<string>();
  for (const fn of FUNCTIONS) {
    const Fn = fn[0]!.toUpperCase() + fn.slice(1);
    const roleId = functionRoleId(template, fn);
    assert.equal(roleId, `${Fn}IamRole`, `${fn}: its own role`);
    roleIds.add(roleId);
    const props = r[roleId]!.Properties as { AssumeRolePolicyDocument: unknown; ManagedPolicyArns: unknown };
    assert.equal(r[roleId]!.Type, 'AWS::IAM::Role');
    assert.deepEqual(props.AssumeRolePolicyDocument, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: 'sts:AssumeRole' }] });
    // The VPC policy (ENIs, and logs on every group) only on a stage with a VPC; this stage (dev) has none.
    assert.deepEqual(props.ManagedPolicyArns, { 'Fn::If': ['StageHasVpc', [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' }], { Ref: 'AWS::NoValue' }] });
    const statements = roleStatements<Statement>(template, roleId, conditions);
    // CloudWatch Logs: the framework's default actions, on this function's own log group only.
    const logs = statements.filter((s) => list(s.Action).some((a) => a.startsWith('logs:')));
    assert.deepEqual(logs, [
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:CreateLogGroup', 'logs:TagResource'], Resource: { 'Fn::GetAtt': [`${Fn}LogGroup`, 'Arn'] } },
      { Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [`${Fn}LogGroup`, 'Arn'] }, ':*']] } },
    ], `${fn}: logs of its own log group`);
    // The onFailure destination of the asynchronously invoked functions: with a custom role the framework adds no grant.
    const sqs = statements.filter((s) => list(s.Action).some((a) => a.startsWith('sqs:')));
    assert.deepEqual(sqs, ASYNC_FUNCTIONS.has(fn) ? [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['FailedEventsQueue', 'Arn'] } }] : [], `${fn}: sqs`);
    const s3 = statements.filter((s) => list(s.Action).some((a) => a.startsWith('s3:')));
    assert.equal(logs.length + sqs.length + s3.length, statements.length, `${fn}: only logs, sqs and s3 statements`);
    const got: S3Grants = { get: [], put: [], del: [], list: false };
    for (const s of s3.filter((x) => x.Effect === 'Allow')) {
      for (const a of list(s.Action)) {
        if (a === 's3:ListBucket') {
          // On the bucket, with no condition: a missing key must read as 404, not 403 (serverless.yml, above the roles).
          assert.equal(s.Resource, BUCKET, `${fn}: ListBucket on the bucket`);
          assert.equal(s.Condition, undefined, `${fn}: ListBucket unconditioned`);
          got.list = true;
          continue;
        }
        const key = ({ 's3:GetObject': 'get', 's3:PutObject': 'put', 's3:DeleteObject': 'del' } as const)[a];
        assert.ok(key, `${fn}: unexpected action ${a}`);
        got[key].push(...list(s.Resource as string | string[]));
      }
    }
    const e = EXPECTED_S3[fn]!;
    const want = (xs: string[]) => sorted(keyring ? xs : xs.filter((x) => x !== KEYRING && x !== `${BUCKET}/${KEYRING}`));
    assert.deepEqual({ get: sorted(got.get), put: sorted(got.put), del: sorted(got.del), list: got.list }, { get: want(e.get), put: want(e.put), del: want(e.del), list: e.list }, `${fn}: S3 grants`);
    assert.ok(![...got.get, ...got.put, ...got.del].includes(`${BUCKET}/*`), `${fn}: nothing on the whole bucket`);
    // The keyring is never written by a function: the Deny is on every role with S3 access (health has none).
    const denies = s3.filter((x) => x.Effect === 'Deny');
    assert.deepEqual(denies, fn === 'health' ? [] : [KEYRING_DENY], `${fn}: keyring deny`);
    if (got.put.length + got.del.length > 0) assert.equal(denies.length, 1, `${fn} writes: the keyring deny is there`);
    if (fn === 'health') assert.deepEqual(s3, [], 'health: no S3 access at all');
  }
  assert.equal(roleIds.size, FUNCTIONS.length, 'a distinct role per function');
  // The framework's S3-notification helper keeps its own role (bucket notification, lambda permission).
  const helper = r.CustomDashresourceDashexistingDashs3LambdaFunction!;
  assert.deepEqual(helper.Properties.Role, { 'Fn::GetAtt': ['IamRoleCustomResourcesLambdaExecution', 'Arn'] });
  assert.match(JSON.stringify(r.IamRoleCustomResourcesLambdaExecution), /"s3:PutBucketNotification"/);
  // Only the roles above and the helper's: nothing else in the template can assume a role.
  assert.deepEqual(sorted(Object.entries(r).filter(([, x]) => x.Type === 'AWS::IAM::Role').map(([k]) => k)), sorted([...roleIds, 'IamRoleCustomResourcesLambdaExecution']));
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
    // No AWS_* variables at all (no credentials, no profile), a made-up region, no instance metadata lookups
    // (slsPackage); on top, a developer's shell after the local recipe (infra/README.md): none of it may reach a
    // deployable stage.
    const out = join(dir, 'artifacts');
    const r = await slsPackage(out, { S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, DETECTOR_ID: 'fixed-det' });
    assert.equal(r.code, 0, r.out);
    // esbuild warns when a bundle would carry `import.meta` into CommonJS, where it is empty: no function may (the
    // worker-thread fit loader that needs it reaches the worker only, by injection).
    assert.doesNotMatch(r.out, /import\.meta|\[WARNING\]/, 'esbuild warnings while bundling');
    const seconds = r.seconds;

    const files = await readdir(out);
    const sizes: Record<string, number> = {};
    for (const fn of FUNCTIONS) {
      assert.ok(files.includes(`${fn}.zip`), `${fn}.zip in ${files.join(',')}`);
      sizes[fn] = (await stat(join(out, `${fn}.zip`))).size;
    }
    const template = r.template!;
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
    assert.deepEqual(invokeConfigs.map((r) => (r.Properties.FunctionName as { Ref: string }).Ref).sort(), ['AuditLambdaFunction', 'CheckObjectLambdaFunction', 'RetentionLambdaFunction']);
    for (const c of invokeConfigs) {
      assert.deepEqual(c.Properties.DestinationConfig, { OnFailure: { Destination: { 'Fn::GetAtt': ['FailedEventsQueue', 'Arn'] } } });
      assert.equal(c.Properties.MaximumRetryAttempts, 2);
    }
    assert.equal(res.FailedEventsQueue?.Type, 'AWS::SQS::Queue');
    // The retention sweep: daily, one run at a time, with a whole invocation's time (it stops before the end on its own).
    const schedules = Object.values(res).filter((r) => r.Type === 'AWS::Events::Rule').map((r) => r.Properties as { ScheduleExpression?: string; Targets?: { Arn?: { 'Fn::GetAtt'?: [string, string] } }[] });
    assert.deepEqual(schedules.filter((r) => r.Targets?.[0]?.Arn?.['Fn::GetAtt']?.[0] === 'RetentionLambdaFunction').map((r) => r.ScheduleExpression), ['rate(1 day)']);
    const sweeper = res.RetentionLambdaFunction!.Properties as { Timeout?: number; ReservedConcurrentExecutions?: number };
    assert.deepEqual([sweeper.Timeout, sweeper.ReservedConcurrentExecutions], [900, 1]);
    // One least-privilege role per function (what each may do: EXPECTED_S3 and infra/README.md, "IAM").
    // Stage dev has no infra/stages/dev.vpc.yml (no VPC policy); API_KEYS_OBJECT is the default keyring object.
    assert.deepEqual(template.Conditions?.StageHasVpc, { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    assert.deepEqual(template.Conditions?.HasKeyringObject, { 'Fn::Not': [{ 'Fn::Equals': [KEYRING, ''] }] });
    checkRoles(template);
    // With API_KEYS_OBJECT='' (keys from API_KEYS only), no role reads or lists for a keyring object.
    checkRoles(template, { HasKeyringObject: false });
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
      assert.equal(v.MAX_JOBS_PER_TENANT, '20', 'the per-tenant job cap reaches the functions that enqueue');
      assert.equal(v.METRICS, 'emf', 'audit metrics as CloudWatch EMF');
    }
    // DETECTOR_ID, which checkObject reads, reaches it (it used to be read by the code but settable nowhere).
    assert.equal(res.CheckObjectLambdaFunction?.Properties.Environment && (res.CheckObjectLambdaFunction.Properties.Environment as { Variables: Record<string, string> }).Variables.DETECTOR_ID, 'fixed-det');
    // Every function behind an HTTP API route answers within the integration's 30 s.
    const httpFns = Object.entries(template.Resources as Record<string, { Type: string; Properties: { IntegrationUri?: { 'Fn::GetAtt'?: [string, string] } } }>)
      .filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Integration')
      .map(([, r]) => r.Properties.IntegrationUri?.['Fn::GetAtt']?.[0]);
    assert.ok(httpFns.length >= 6);
    for (const logicalId of httpFns) {
      const fn = (template.Resources as Record<string, { Properties: { Timeout?: number } }>)[logicalId!]!;
      assert.ok((fn.Properties.Timeout ?? 6) <= 30, `${logicalId}: timeout ${fn.Properties.Timeout} s behind an HTTP API route`);
    }

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
    const sls = SLS_BIN;
    const missing = await run(process.execPath, [sls, 'print', '--stage', 'prod'], env, REPO);
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /Cannot resolve variable at "params\.default\.redisUrl"/);
    const local = await run(process.execPath, [sls, 'print', '--stage', 'local', '--format', 'json'], env, REPO);
    assert.equal(local.code, 0, local.out);
    const localCfg = JSON.parse(local.out.slice(local.out.indexOf('{'), local.out.lastIndexOf('}') + 1));
    assert.equal(localCfg.provider.environment.REDIS_URL, 'redis://127.0.0.1:6379', 'stage local defaults to the loopback Redis');
    // Every variable the template sets is one the configuration reads, and the set as a whole is valid (an empty
    // value is "not set": ORT_INTRA_OP_THREADS and API_KEYS_TTL_MS could not be set on a deploy until they were listed).
    const fnEnv = localCfg.provider.environment as Record<string, string>;
    assert.deepEqual(Object.keys(fnEnv).filter((k) => !CONFIG_VARIABLES.includes(k)), []);
    for (const k of ['ORT_INTRA_OP_THREADS', 'API_KEYS_TTL_MS', 'MAX_BODY_BYTES', 'SYNC_PREDICT_MAX_IMAGES', 'MAX_JOBS_PER_TENANT']) assert.ok(k in fnEnv, `${k} can be set on a deploy`);
    loadConfig(fnEnv);
    assert.equal(loadConfig({ ...fnEnv, ORT_INTRA_OP_THREADS: '2' }).ort.intraOpNumThreads, 2);
    assert.equal(localCfg.provider.vpc, null, 'no VPC file for stage local');
    // The roles get AWSLambdaVPCAccessExecutionRole only when the stage has a VPC (checkRoles: Fn::If StageHasVpc).
    assert.deepEqual(localCfg.resources.Conditions.StageHasVpc, { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    const example = await run(process.execPath, [sls, 'print', '--stage', 'example', '--format', 'json'], { ...env, REDIS_URL }, REPO);
    assert.equal(example.code, 0, example.out);
    const cfg = JSON.parse(example.out.slice(example.out.indexOf('{'), example.out.lastIndexOf('}') + 1));
    assert.equal(cfg.provider.environment.REDIS_URL, REDIS_URL);
    assert.deepEqual(cfg.provider.vpc, { subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'], securityGroupIds: ['sg-0123456789abcdef0'] });
    assert.deepEqual(cfg.resources.Conditions.StageHasVpc, { 'Fn::Not': [{ 'Fn::Equals': ['subnet-0123456789abcdef0', ''] }] }, 'a VPC stage: the condition holds');
  });
});
