// The soak's sampler (`npm run soak`, benchmarks/soak.ts). Preloaded with `node --expose-gc --import <this file>` into
// the worker (compiled, or from sources after `--import tsx`), it appends one JSON line to $IMAGEDRIFT_SOAK_PROBE_FILE on every SIGUSR2 (the driver
// sends one each time the queue has drained, i.e. between rounds of jobs: periodic, and never in the middle of a job).
// The functions phase (benchmarks/children/soak-functions.ts) imports `sample` and calls it itself.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const caches = new URL('../../src/service/', import.meta.url);
const compiled = new URL('../../dist/src/service/', import.meta.url);

/** The process's state now, after a forced full GC (when run with --expose-gc). */
export async function sample() {
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const resources = process.getActiveResourcesInfo();
  // The caches, as the same module instances the worker or handlers use: the sources' in a process running them through
  // tsx, else (a compiled worker, which cannot import .ts) dist's; null if neither is reachable.
  let ortSessions = null;
  let detectorCache = null;
  for (const [dir, ext] of [[caches, 'ts'], [compiled, 'js']]) {
    try {
      ortSessions = (await import(new URL(`extractor-cache.${ext}`, dir).href)).openExtractorSessions();
      detectorCache = (await import(new URL(`detector-cache.${ext}`, dir).href)).cachedDetectorCounts();
      break;
    } catch {
      // not reachable this way
    }
  }
  return {
    at: Date.now(),
    // readdirSync's own descriptor is open while it lists, so it is not counted.
    fds: readdirSync('/proc/self/fd').length - 1,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
    heapUsed: mem.heapUsed,
    // Compiled code (grows while V8 warms up) apart from the objects a leak would keep.
    heapCode: getHeapSpaceStatistics().filter((h) => h.space_name.startsWith('code')).reduce((a, h) => a + h.space_used_size, 0),
    external: mem.external,
    rss: mem.rss,
    gcForced: typeof globalThis.gc === 'function',
    handles: resources.length,
    timers: resources.filter((r) => r === 'Timeout').length,
    ortSessions,
    detectorCache,
  };
}

const file = process.env.IMAGEDRIFT_SOAK_PROBE_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    void sample().then((s) => appendFileSync(file, `${JSON.stringify(s)}\n`));
  });
}
