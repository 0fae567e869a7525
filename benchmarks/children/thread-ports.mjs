// Does this Node keep something for every worker thread that registered tsx's loader (as src/service/threads.ts does
// when running from sources)? Starts and ends N threads, each registering tsx's ESM loader or not ('plain'), and prints
// the heap used after GC per thread and, where Node has v8.queryObjects (22+), the MessagePort objects still alive.
// BENCHMARKS.md "Soak": Node 20.20 and 24.9 both keep one MessagePort (~1.3-1.4 KiB with what hangs off it) per such
// thread, in the main thread's table of nested threads' ports (22.23.5 does not); a thread that does not register keeps nothing.
//   node --no-warnings --expose-gc benchmarks/children/thread-ports.mjs register|plain [N]
import v8 from 'node:v8';
import { MessagePort, Worker } from 'node:worker_threads';

const mode = process.argv[2] ?? 'register';
const n = Number(process.argv[3] ?? 100);
if (!['register', 'plain'].includes(mode) || !(Number.isInteger(n) && n > 0)) {
  console.error('usage: thread-ports.mjs register|plain [N]');
  process.exit(2);
}
const tsxApi = import.meta.resolve('tsx/esm/api');
const done = "require('node:worker_threads').parentPort.postMessage('ok')";
const code = mode === 'register' ? `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); ${done}; })` : done;
async function oneThread() {
  const w = new Worker(code, { eval: true, execArgv: [] });
  await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
}
async function heapAfterGc() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
}
for (let i = 0; i < 10; i++) await oneThread(); // warm-up
const before = await heapAfterGc();
for (let i = 0; i < n; i++) await oneThread();
const after = await heapAfterGc();
const ports = typeof v8.queryObjects === 'function' ? `; ${v8.queryObjects(MessagePort, { format: 'count' })} MessagePort objects alive after ${n + 10} threads` : '';
console.log(`${process.version} ${mode}: ${((after - before) / n).toFixed(0)} bytes of heap per thread over ${n} threads${ports}`);
