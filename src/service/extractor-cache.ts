import type { Matrix, Tensor } from '../core/tensor.js';
import type { ModelInputPlan } from '../core/preprocess.js';
import { FeatureExtractor } from '../model/extract.js';
import { parseLayerName } from '../model/graph.js';
import type { WarnLogger } from '../model/session.js';
import { sha256Hex } from '../hash.js';

/** How an extractor runs: what the cache key is made of, plus a logger for ORT's warnings. */
export interface ExtractorOptions {
  readonly batchSize?: number;
  readonly executionProviders?: string[];
  readonly intraOpNumThreads?: number;
  readonly logger?: WarnLogger;
}

interface Entry {
  readonly ready: Promise<FeatureExtractor>;
  /** Calls running on the session now; an evicted entry is closed when the last one ends. */
  users: number;
  evicted: boolean;
}

const entries = new Map<string, Entry>();
const MAX_CACHED_EXTRACTORS = 8;
/** ORT sessions created through the cache and not yet released, cached or evicted-but-busy (see openExtractorSessions). */
let openSessions = 0;

function closeEntry(e: Entry): Promise<void> {
  return e.ready.then(
    (x) => x.close().then(() => void openSessions--),
    () => undefined,
  );
}

/** Drops `key` from the cache; its session is released now if idle (the promise), else when its last user finishes. */
function evict(key: string, e: Entry): Promise<void> | undefined {
  if (entries.get(key) === e) entries.delete(key);
  if (e.evicted) return undefined;
  e.evicted = true;
  return e.users === 0 ? closeEntry(e) : undefined;
}

function lease(model: Uint8Array, layer: string, opts: ExtractorOptions, modelSha: string): Entry {
  const key = JSON.stringify([modelSha, parseLayerName(layer), opts.batchSize ?? 256, opts.executionProviders ?? [], opts.intraOpNumThreads ?? 0]);
  let e = entries.get(key);
  if (e) {
    entries.delete(key); // least recently used first: re-insert at the end
    entries.set(key, e);
  } else {
    if (entries.size >= MAX_CACHED_EXTRACTORS) {
      // The least recently used idle session goes first; if all are busy, the oldest is closed once its calls end.
      const victim = [...entries].find(([, v]) => v.users === 0) ?? entries.entries().next().value!;
      void evict(victim[0], victim[1]);
    }
    const ready = FeatureExtractor.create(model, {
      layer,
      ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      ...(opts.executionProviders ? { executionProviders: opts.executionProviders } : {}),
      ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    ready.then(() => void openSessions++, () => undefined);
    const created: Entry = { ready, users: 0, evicted: false };
    e = created;
    entries.set(key, created);
    ready.catch(() => {
      if (entries.get(key) === created) entries.delete(key);
    });
  }
  e.users++;
  return e;
}

/**
 * Runs `fn` on the extractor of (model hash, layer, batch size, providers, threads), cached so that a warm worker or
 * handler reuses its ORT session. A session is never released while a call is running on it, however many other
 * keys are used meanwhile (at most 8 idle sessions are kept).
 */
export async function withExtractor<T>(model: Uint8Array, layer: string, opts: ExtractorOptions, modelSha: string, fn: (e: FeatureExtractor) => Promise<T>): Promise<T> {
  const e = lease(model, layer, opts, modelSha);
  try {
    return await fn(await e.ready);
  } finally {
    e.users--;
    if (e.evicted && e.users === 0) await closeEntry(e);
  }
}

/** The features of one layer for `input`, on the cached session (a convenience for scripts and benchmarks). */
export function layerFeatures(model: Uint8Array, layer: string, input: Tensor | ModelInputPlan, opts: ExtractorOptions = {}): Promise<Matrix> {
  return withExtractor(model, layer, opts, sha256Hex(model), (ex) => ex.extract(input));
}

/** Releases every cached session (at shutdown); sessions still in use are released when their calls end. */
export async function closeExtractors(): Promise<void> {
  await Promise.all([...entries].map(async ([k, e]) => evict(k, e)));
}

/** Number of cached sessions (for tests and metrics). */
export function cachedExtractorCount(): number {
  return entries.size;
}

/**
 * ORT sessions this process holds through the cache: the cached ones plus evicted ones whose calls have not ended yet.
 * With no call running it is at most 8; more would mean evicted sessions are not released (tests, `npm run soak`).
 */
export function openExtractorSessions(): number {
  return openSessions;
}
