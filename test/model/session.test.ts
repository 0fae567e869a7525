import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, ModelError } from '../../src/core/errors.js';
import { createSession } from '../../src/model/session.js';
import { REPO } from '../helpers/paths.js';

const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')));

/** Records warnings; our own logger interface, as a pino logger would receive them. */
function recordingLogger() {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  return { warnings, warn: (obj: object, msg: string) => void warnings.push({ obj: obj as Record<string, unknown>, msg }) };
}

describe('createSession', () => {
  it('creates a CPU session by default', async () => {
    const logger = recordingLogger();
    const { session, provider } = await createSession(MODEL, { logger, intraOpNumThreads: 1 });
    try {
      assert.equal(provider, 'cpu');
      assert.deepEqual(session.inputNames, ['input']);
      assert.deepEqual(session.outputNames, ['output']);
      assert.equal(logger.warnings.length, 0);
    } finally {
      await session.release();
    }
  });

  it("falls back from ['cuda','cpu'] to CPU with a warning when CUDA is unavailable", async (t) => {
    const logger = recordingLogger();
    const { session, provider } = await createSession(MODEL, { executionProviders: ['cuda', 'cpu'], logger });
    try {
      if (provider === 'cuda') {
        // A machine with a working CUDA provider: nothing to fall back from.
        assert.equal(logger.warnings.length, 0);
        t.diagnostic('CUDA execution provider available; fallback path not exercised on this machine');
        return;
      }
      assert.equal(provider, 'cpu');
      assert.equal(logger.warnings.length, 1);
      assert.equal(logger.warnings[0]!.obj.provider, 'cuda');
      assert.equal(typeof logger.warnings[0]!.obj.error, 'string');
      assert.match(logger.warnings[0]!.msg, /cuda.*falling back/);
    } finally {
      await session.release();
    }
  });

  it('falls back to CPU even when the list does not name it, warning for each provider', async () => {
    const logger = recordingLogger();
    const { session, provider } = await createSession(MODEL, { executionProviders: ['no-such-ep', 'cann'], logger });
    try {
      assert.equal(provider, 'cpu');
      assert.deepEqual(logger.warnings.map((w) => w.obj.provider), ['no-such-ep', 'cann']);
    } finally {
      await session.release();
    }
  });

  it('rejects bad options and a model onnxruntime cannot load', async () => {
    await assert.rejects(createSession(MODEL, { executionProviders: [] }), (e: unknown) => e instanceof InputError && e.field === 'executionProviders');
    await assert.rejects(createSession(MODEL, { executionProviders: [''] }), (e: unknown) => e instanceof InputError && e.field === 'executionProviders[0]');
    await assert.rejects(createSession(MODEL, { intraOpNumThreads: 0 }), (e: unknown) => e instanceof InputError && e.field === 'intraOpNumThreads');
    await assert.rejects(createSession(MODEL.subarray(0, 5000)), (e: unknown) => e instanceof ModelError && e.field === 'model');
  });
});
