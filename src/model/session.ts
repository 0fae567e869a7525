/**
 * onnxruntime-node session creation with an execution-provider fallback chain.
 *
 * onnxruntime-node is imported lazily, so modules that only need the types (CLI parsing, handlers) do not load the
 * native binding.
 *
 * Providers are ORT's names: 'cpu', 'cuda', 'tensorrt', 'dml', 'coreml', ... Ascend NPUs are reached through ORT's
 * CANN execution provider, named 'cann': pass `executionProviders: ['cann', 'cpu']` with an onnxruntime-node build that
 * includes it (the npm package ships CPU, plus CUDA/TensorRT on linux-x64 when their libraries are installed).
 */
import type { InferenceSession } from 'onnxruntime-node';
import { InputError, ModelError } from '../core/errors.js';
import { assertModelSelfContained } from './graph.js';

/** The subset of a pino-style logger we use. */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export interface SessionOptions {
  /** Providers to try, in order, e.g. `['cuda', 'cpu']`. Default `['cpu']`. CPU is always the last resort. */
  executionProviders?: string[];
  /** ORT intra-op thread count (positive integer); ORT's default when omitted. */
  intraOpNumThreads?: number;
  /** Receives a warning for each provider that could not be used. Without one, `process.emitWarning` is used. */
  logger?: WarnLogger;
}

export interface CreatedSession {
  session: InferenceSession;
  /** The provider the session was created with. */
  provider: string;
}

/** Loads onnxruntime-node on first use. */
export async function loadOrt(): Promise<typeof import('onnxruntime-node')> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new ModelError('onnxruntime', `onnxruntime-node could not be loaded (${(e as Error).message})`, { cause: e });
  }
}

function checkOptions(opts: SessionOptions): string[] {
  const eps = opts.executionProviders ?? ['cpu'];
  if (!Array.isArray(eps) || eps.length === 0) throw new InputError('executionProviders', 'must be a non-empty list of provider names, e.g. ["cuda","cpu"]');
  eps.forEach((p, i) => {
    if (typeof p !== 'string' || p.trim() === '') throw new InputError(`executionProviders[${i}]`, `must be a provider name, got ${JSON.stringify(p)}`);
  });
  const t = opts.intraOpNumThreads;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) throw new InputError('intraOpNumThreads', `must be a positive integer, got ${t}`);
  return eps.map((p) => p.trim().toLowerCase());
}

/**
 * Creates an inference session, trying each provider in order. A provider that fails (not compiled in, no device,
 * missing libraries) is reported through `logger.warn` and the next one is tried; CPU is tried last in any case.
 */
export async function createSession(modelBytes: Uint8Array, opts: SessionOptions = {}): Promise<CreatedSession> {
  const providers = checkOptions(opts);
  assertModelSelfContained(modelBytes); // never let onnxruntime read files a model names
  const ort = await loadOrt();
  const warn = (obj: object, msg: string): void => {
    if (opts.logger) opts.logger.warn(obj, msg);
    else process.emitWarning(`${msg} ${JSON.stringify(obj)}`, 'ImagedriftWarning');
  };
  // No memory pattern: ORT would plan and allocate one block per input shape on its second run of that shape, fresh
  // memory to page-fault in again; a cold process's runs take about half the time without it, warm runs no longer.
  const base: InferenceSession.SessionOptions = { logSeverityLevel: 3, graphOptimizationLevel: 'all', enableMemPattern: false };
  if (opts.intraOpNumThreads !== undefined) base.intraOpNumThreads = opts.intraOpNumThreads;

  const chain = providers.includes('cpu') ? providers.slice(0, providers.indexOf('cpu') + 1) : [...providers, 'cpu'];
  let lastError: unknown;
  for (const provider of chain) {
    try {
      const session = await ort.InferenceSession.create(modelBytes, { ...base, executionProviders: [provider] });
      return { session, provider };
    } catch (e) {
      lastError = e;
      if (provider === 'cpu') break;
      warn({ provider, error: (e as Error).message }, `execution provider '${provider}' unavailable, falling back`);
    }
  }
  throw new ModelError('model', `onnxruntime could not create a session (${(lastError as Error)?.message ?? String(lastError)})`, { cause: lastError });
}
