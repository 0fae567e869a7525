import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { InputError } from '../../src/core/errors.js';
import { defaultPreprocess, planModelInput } from '../../src/core/preprocess.js';
import type { DecodedArray } from '../../src/core/tensor.js';
import { sha256Hex } from '../../src/hash.js';
import { decodeBytes } from '../../src/io/load.js';
import { withExtractor } from '../../src/service/extractor-cache.js';
import { prefillOffThread } from '../../src/service/prefill.js';
import { DATASETS, REPO } from '../helpers/paths.js';

const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')));
const SHA = sha256Hex(MODEL);
const PRE = defaultPreprocess({ channels: 1, height: 32, width: 32 });
const mnistTest = () => decodeBytes(readFileSync(join(DATASETS, 'mnist/t10k-images-idx3-ubyte.gz')), 't10k-images-idx3-ubyte.gz');
const features = (data: DecodedArray, offThread: boolean) =>
  withExtractor(MODEL, 'output', {}, SHA, (ex) => ex.extract(planModelInput(data, PRE), undefined, offThread ? prefillOffThread : undefined));
const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('prefillOffThread (preprocessing in a worker thread, overlapped with inference)', () => {
  it('gives the in-thread features bit for bit on the MNIST test set (10,000 images, 40 batches of 256)', async () => {
    const data = await mnistTest();
    const plain = await features(data, false);
    const overlapped = await features(data, true);
    assert.equal(overlapped.rows, 10_000);
    assert.ok(bytesOf(overlapped.data).equals(bytesOf(plain.data)), 'features differ from the in-thread path');
    assert.ok(bytesOf((await features(data, true)).data).equals(bytesOf(plain.data)), 'a second run differs');
  });

  it('yields every batch in order, each unchanged until the next is asked for (MNIST test, a slow consumer)', async () => {
    const data = await mnistTest();
    const plan = planModelInput(data, PRE);
    const want = new Float32Array(256 * plan.perSample);
    let from = 0;
    for await (const batch of prefillOffThread(plan, 256)) {
      const b = Math.min(256, 10_000 - from);
      // Hold the batch across turns of the event loop, as a model run does, while the thread works on the next one.
      for (let i = 0; i < 20; i++) await tick();
      plan.fill(want, from, from + b);
      assert.equal(batch.length, b * plan.perSample, `batch at sample ${from}`);
      assert.ok(bytesOf(batch).equals(bytesOf(want.subarray(0, b * plan.perSample))), `batch at sample ${from} differs`);
      from += b;
    }
    assert.equal(from, 10_000);
  });

  it('names a bad pixel by its sample index in the whole input, as the in-thread path does', async () => {
    const data = await mnistTest();
    for (const [k, v] of [[600, Number.NaN], [9_999, 300]] as const) {
      const bad = { ...data, data: data.data.slice() };
      bad.data[k * 784 + 400] = v;
      const errors: InputError[] = [];
      for (const offThread of [false, true]) {
        await assert.rejects(features(bad, offThread), (e: unknown) => {
          assert.ok(e instanceof InputError);
          errors.push(e);
          return true;
        });
      }
      assert.equal(errors[1]!.field, `data[${k}]`);
      assert.equal(errors[1]!.message, errors[0]!.message);
    }
  });

  it('preprocesses an input of one batch on the calling thread, with the same features', async () => {
    const data = await mnistTest();
    const small = { ...data, data: data.data.subarray(0, 256 * 784), shape: [256, 28, 28] };
    const fed = prefillOffThread(planModelInput(small, PRE), 256);
    assert.equal(Symbol.asyncIterator in fed, false, 'a thread was used for one batch');
    assert.ok(bytesOf((await features(small, true)).data).equals(bytesOf((await features(small, false)).data)));
  });
});
