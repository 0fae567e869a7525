/** What the numbers were measured on. */
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { pythonVersions } from './python.js';

export interface MachineInfo {
  readonly cores: number;
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

export function machineInfo(): MachineInfo {
  const c = cpus();
  const py = pythonVersions();
  const v = 'error' in py ? { python: py.error, numpy: '-', sklearn: '-' } : py;
  return {
    cores: c.length,
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
