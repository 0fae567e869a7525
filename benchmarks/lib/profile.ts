/** Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, largest first. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from './data.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  readonly fn: string;
  readonly ms: number;
  readonly share: number;
}

/** The largest profile in `dir` (the main thread; tsx's loader thread writes a second, small one). */
export function topSelfTime(dir: string, top = 10): ProfileLine[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  const file = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const n = byId.get(id)!;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const where = url.startsWith(REPO) ? relative(REPO, url) : url.split('/').slice(-2).join('/');
    const key = `${n.callFrame.functionName || '(anonymous)'}${where ? ` (${where})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, ms: us / 1000, share: us / total }));
}

/** Self time of a profile grouped into what it is spent on (module loading, onnxruntime, GC, imagedrift's code, …). */
export function profileCategories(dir: string): { category: string; ms: number; share: number }[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  const file = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const loader = /node:internal\/(modules|process\/pre_execution|bootstrap)|cjs-module-lexer|\/tsx\//;
  const loaderFns = new Set(['openFileHandle', 'readFileUtf8', 'fstat', 'internalModuleStat', 'realpathSync', 'read', 'close', 'open', 'compileFunction', 'parse']);
  const cat = (fn: string, url: string): string => {
    if (fn === '(garbage collector)') return 'garbage collector';
    if (fn === '(idle)' || fn === '(program)') return 'idle / program';
    if (url.includes('onnxruntime')) return 'onnxruntime (native load, session, run)';
    if (loader.test(url) || (url === '' && loaderFns.has(fn))) return 'module loading (resolve, read, compile)';
    if (url.includes('/src/') || url.includes('/dist/src/')) return "imagedrift's own code";
    if (url.includes('node_modules')) return 'other dependencies';
    return 'other Node internals';
  };
  const agg = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const n = byId.get(id)!;
    const c = cat(n.callFrame.functionName, n.callFrame.url);
    agg.set(c, (agg.get(c) ?? 0) + dt);
  });
  return [...agg].sort((a, b) => b[1] - a[1]).map(([category, us]) => ({ category, ms: us / 1000, share: us / total }));
}
