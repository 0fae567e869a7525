/** What the numbers were measured on. */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { pythonVersions } from './python.js';

export interface MachineInfo {
  readonly cores: number;
  /** Hardware threads per physical core (Linux's CPU topology), when readable: 1 means every logical CPU is a core. */
  readonly threadsPerCore?: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly ort: string;
  readonly python: string;
  readonly numpy: string;
  readonly sklearn: string;
  readonly loadAvgStart: readonly number[];
  readonly date: string;
}

function ortVersion(): string {
  try {
    const pj = JSON.parse(readFileSync(new URL('../../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8')) as { version: string };
    return pj.version;
  } catch {
    return 'unknown';
  }
}

/** How many CPUs a Linux CPU list names ("0-1", "0,2", "3", "0-3,8-11"); NaN when it is not one. */
export function cpuListCount(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return NaN;
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (b < a) return NaN;
    n += b - a + 1;
  }
  return n;
}

/** CPU 0's hardware threads (its SMT siblings): ORT's default intra-op thread count follows physical cores. */
function threadsPerCore(): number | undefined {
  try {
    const n = cpuListCount(readFileSync('/sys/devices/system/cpu/cpu0/topology/thread_siblings_list', 'utf8'));
    return Number.isInteger(n) && n >= 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The CPU row of the Machine table: logical CPUs, and physical cores where the topology was readable. */
export function cpuDescription(m: MachineInfo): string {
  const tpc = m.threadsPerCore;
  if (tpc === undefined) return `${m.cores} logical CPUs, ${m.cpuModel}`;
  const threads = tpc === 1 ? 'one thread per core' : `${tpc} threads per core`;
  return `${m.cores} logical CPUs (${threads}: ${m.cores / tpc} physical cores, which ORT's default intra-op threads follow), ${m.cpuModel}`;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  const tpc = threadsPerCore();
  const py = pythonVersions();
  const v = 'error' in py ? { python: py.error, numpy: '-', sklearn: '-' } : py;
  return {
    cores: c.length,
    ...(tpc !== undefined ? { threadsPerCore: tpc } : {}),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    ort: ortVersion(),
    ...v,
    loadAvgStart: loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

/** Cost of first-touching fresh memory here (page faults): ms per 40 MB, median of 5. Shapes every large allocation. */
export function firstTouchMsPer40MB(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const a = new Float32Array(10_000_000);
    for (let j = 0; j < a.length; j += 1024) a[j] = 1;
    out.push(performance.now() - t);
  }
  return out;
}
