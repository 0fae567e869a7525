/**
 * `serverless package` of this service, offline and without AWS credentials, and reading the packaged CloudFormation
 * template the way CloudFormation would (conditions, `Fn::If` statements). Shared by test/e2e/package.test.ts (the
 * template's shape) and test/e2e/iam-coverage.test.ts (each role against the S3 requests its function really makes).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './paths.js';

export const SLS_ENV = { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_INTERACTIVE_SETUP_DISABLE: '1' };
export const SLS_BIN = join(REPO, 'node_modules/serverless/bin/serverless.js');

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

export type Template = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>; Conditions?: Record<string, unknown> };

/**
 * Runs `serverless package --package <out>` in `cwd` (default: the repo) with no AWS_* variables at all (no
 * credentials, no profile), a made-up region and no instance-metadata lookups; `env` is added on top (REDIS_URL,
 * S3_BUCKET, …). Returns the command's output and, when it succeeded, the packaged update-stack template.
 */
export async function slsPackage(out: string, env: Record<string, string>, cwd = REPO): Promise<{ code: number | null; out: string; seconds: number; template?: Template }> {
  const full: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  // serverless-esbuild stages each function's zip in a folder under the temp dir and fails to remove it (a
  // non-recursive delete, its error swallowed: about 230 MB a package). Its temp dir is one this call removes.
  const tmp = await mkdtemp(join(tmpdir(), 'imagedrift-sls-package-'));
  Object.assign(full, { AWS_REGION: 'eu-test-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_LOAD_CONFIG: '0', TMPDIR: tmp, ...SLS_ENV, ...env });
  const t0 = performance.now();
  const r = await run(process.execPath, [SLS_BIN, 'package', '--package', out, '--region', 'eu-test-1'], full, cwd).finally(() => rm(tmp, { recursive: true, force: true }));
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) return { ...r, seconds };
  const template = JSON.parse(await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  return { ...r, seconds, template };
}

/** A template condition of literals (Fn::Not, Fn::Equals), as CloudFormation would evaluate it. */
export function evaluateCondition(c: unknown): boolean {
  const x = c as { 'Fn::Not'?: [unknown]; 'Fn::Equals'?: [unknown, unknown] };
  if (x['Fn::Not']) return !evaluateCondition(x['Fn::Not'][0]);
  if (x['Fn::Equals']) return JSON.stringify(x['Fn::Equals'][0]) === JSON.stringify(x['Fn::Equals'][1]);
  throw new Error(`cannot evaluate condition ${JSON.stringify(c)}`);
}

/**
 * Resolves one entry of a list (a policy statement, a managed policy list) that may be `Fn::If [condition, a, b]`:
 * the chosen branch, or nothing for `AWS::NoValue`, as CloudFormation does. `conditions` overrides the template's.
 */
export function resolveIf(template: Template, s: unknown, conditions: Record<string, boolean> = {}): unknown[] {
  const cond = (s as { 'Fn::If'?: [string, unknown, unknown] } | null)?.['Fn::If'];
  if (!cond) return [s];
  const holds = conditions[cond[0]] ?? evaluateCondition(template.Conditions?.[cond[0]]);
  const chosen = holds ? cond[1] : cond[2];
  return JSON.stringify(chosen) === JSON.stringify({ Ref: 'AWS::NoValue' }) ? [] : resolveIf(template, chosen, conditions);
}

/** The logical id of a function's role: `<Fn>LambdaFunction`.Properties.Role = Fn::GetAtt [<role>, Arn]. */
export function functionRoleId(template: Template, fn: string): string {
  const Fn = fn[0]!.toUpperCase() + fn.slice(1);
  const role = (template.Resources[`${Fn}LambdaFunction`]?.Properties.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'];
  if (!role || role[1] !== 'Arn') throw new Error(`${fn}: no Fn::GetAtt role in the template`);
  return role[0];
}

/** Every inline policy statement of a role, `Fn::If` entries resolved. */
export function roleStatements<S = unknown>(template: Template, roleId: string, conditions: Record<string, boolean> = {}): S[] {
  const props = template.Resources[roleId]?.Properties as { Policies?: { PolicyDocument: { Statement: unknown[] } }[] } | undefined;
  if (!props) throw new Error(`no resource ${roleId}`);
  return (props.Policies ?? []).flatMap((p) => p.PolicyDocument.Statement.flatMap((s) => resolveIf(template, s, conditions))) as S[];
}
