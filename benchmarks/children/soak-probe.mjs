// The soak's sampler (`npm run soak`, benchmarks/soak.ts). Preloaded with `node --expose-gc --import tsx --import
// <this file>` into the worker, it appends one JSON line to $IMAGEDRIFT_SOAK_PROBE_FILE on every SIGUSR2 (the driver
// sends one each time the queue has drained, i.e. between rounds of jobs: periodic, and never in the middle of a job).
// The functions phase (benchmarks/children/soak-functions.ts) imports `sample` and calls it itself.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const caches = new URL('../../src/service/', import.meta.url);

/** The process's state now, after a forced full GC (when run with --expose-gc). */
export async function sample() {
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const resources = process.getActiveResourcesInfo();
  // The caches are reachable in a process running the sources through tsx (the same module instances the worker or
  // handlers use); elsewhere (a compiled worker) they are left out.
  let ortSessions = null;
  let detectorCache = null;
  try {
    ortSessions = (await import(new URL('extractor-cache.ts', caches).href)).openExtractorSessions();
    detectorCache = (await import(new URL('detector-cache.ts', caches).href)).cachedDetectorCounts();
  } catch {
    // not reachable
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
