/** Whole-command timing and peak memory of child processes. */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RSS_PRELOAD = fileURLToPath(new URL('../children/rss-preload.mjs', import.meta.url));

export interface ChildResult {
  readonly seconds: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set of the child in MiB (VmHWM of its own address space), when measured. */
  readonly peakRssMiB?: number;
  /** process.resourceUsage().maxRSS of the child in MiB (includes its parent's size at fork time on Linux). */
  readonly maxRssMiB?: number;
}

/** Runs a command to completion; wall time includes process start-up. Throws on a non-zero exit unless `allowFail`. */
export function runChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; rssFile?: string; timeoutMs?: number; allowFail?: boolean } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const env = { ...process.env, ...opts.env, ...(opts.rssFile ? { IMAGEDRIFT_BENCH_RSS_FILE: opts.rssFile } : {}) };
    const p = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0 && !opts.allowFail) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim().slice(-1500)}`));
      let mem = {};
      if (opts.rssFile) {
        const r = JSON.parse(readFileSync(opts.rssFile, 'utf8')) as { maxRSS: number; vmHWM: number | null };
        mem = { maxRssMiB: r.maxRSS / 1024, ...(r.vmHWM !== null ? { peakRssMiB: r.vmHWM / 1024 } : {}) };
        rmSync(opts.rssFile, { force: true });
      }
      resolve({ seconds, code, stdout, stderr, ...mem });
    });
  });
}

/** `node --import <rss preload> …`: the child writes its peak memory to `rssFile` on exit. */
export function nodeWithRss(dir: string, tag: string): { args: string[]; rssFile: string } {
  return { args: ['--import', RSS_PRELOAD], rssFile: join(dir, `rss-${tag}-${process.hrtime.bigint()}.json`) };
}
