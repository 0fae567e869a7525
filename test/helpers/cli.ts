/** Runs the CLI's `main` (src/cli/main.ts) in a child process via `node --import tsx -e`, collecting its --json output. */
import { spawn } from 'node:child_process';
import { REPO } from './paths.js';

const SCRIPT = `
import { main } from './src/cli/main.ts';
const lines = [];
const code = await main(JSON.parse(process.env.IMAGEDRIFT_CLI_ARGS), { out: (s) => lines.push(s), err: (s) => process.stderr.write(s + '\\n') });
process.stdout.write(JSON.stringify({ code, lines }));
`;

export async function runCli(args: string[]): Promise<unknown> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    cwd: REPO,
    env: { ...process.env, IMAGEDRIFT_CLI_ARGS: JSON.stringify(args), NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`CLI ${args.join(' ')} exited ${code}: ${err}`);
  const r = JSON.parse(out) as { code: number; lines: string[] };
  if (r.code !== 0 || r.lines.length !== 1) throw new Error(`CLI ${args.join(' ')} returned ${r.code}: ${r.lines.join('\n')} ${err}`);
  return JSON.parse(r.lines[0]!);
}

/** Runs the CLI's `main` in this process, capturing stdout/stderr lines and the exit code. */
export async function cliInProcess(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const { main } = await import('../../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}
