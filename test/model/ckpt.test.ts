import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../../src/core/errors.js';
import { CKPT_FORMAT, readCheckpoint } from '../../src/model/ckpt.js';
import { decodeBudget, estimateProtoDecode } from '../../src/model/decode-budget.js';
import { emptyMessages, ld, varint } from '../helpers/protobuf.js';
import { REPO, SEED } from '../helpers/paths.js';

const CKPT = readFileSync(join(SEED, 'checkpoint_lenet-10_1875.ckpt'));

/** Encodes a protobuf length-delimited field (wire type 2); lengths < 2^14 only. */
function lenField(field: number, body: Uint8Array): Uint8Array {
  const len = body.length < 128 ? [body.length] : [(body.length & 0x7f) | 0x80, body.length >> 7];
  return Uint8Array.from([(field << 3) | 2, ...len, ...body]);
}
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
function entry(tag: string, dims: number[], type: string, content: Uint8Array): Uint8Array {
  const tensor = Uint8Array.from([...dims.flatMap((d) => [0x08, d]), ...lenField(2, utf8(type)), ...lenField(3, content)]);
  return lenField(1, Uint8Array.from([...lenField(1, utf8(tag)), ...lenField(2, tensor)]));
}

describe('readCheckpoint', () => {
  it('reads the seed LeNet5 checkpoint with the tags and dims of the seed README', () => {
    const m = readCheckpoint(CKPT);
    const expected: Record<string, number[]> = {
      'conv1.weight': [6, 1, 5, 5],
      'conv2.weight': [16, 6, 5, 5],
      'fc1.weight': [120, 400],
      'fc1.bias': [120],
      'fc2.weight': [84, 120],
      'fc2.bias': [84],
      'fc3.weight': [10, 84],
      'fc3.bias': [10],
    };
    for (const [tag, dims] of Object.entries(expected)) {
      const t = m.get(tag);
      assert.ok(t, `missing ${tag}`);
      assert.deepEqual(t.dims, dims);
      assert.equal(t.type, 'Float32');
      assert.equal(t.data.length, dims.reduce((a, b) => a * b, 1));
      assert.ok(t.data.every(Number.isFinite));
      assert.ok(t.data.some((v) => v !== 0));
    }
    for (const tag of Object.keys(expected)) assert.deepEqual(m.get(`moments.${tag}`)?.dims, expected[tag]);
    assert.equal(m.size, 18);
    // Optimizer scalars are stored as Float64 with dims [0].
    assert.deepEqual(m.get('learning_rate')?.dims, []);
    assert.equal(m.get('learning_rate')?.type, 'Float64');
    assert.ok(Math.abs(m.get('learning_rate')!.data[0]! - 0.001) < 1e-9);
    assert.ok(Math.abs(m.get('momentum')!.data[0]! - 0.9) < 1e-6);
  });

  it('decodes little-endian values from unaligned content', () => {
    const content = new Uint8Array(8);
    new DataView(content.buffer).setFloat32(0, 1.5, true);
    new DataView(content.buffer).setFloat32(4, -2.25, true);
    const m = readCheckpoint(Uint8Array.from([...entry('a', [2], 'Float32', content), ...entry('b', [1, 1], 'Int32', Uint8Array.of(7, 0, 0, 0))]));
    assert.deepEqual([...m.get('a')!.data], [1.5, -2.25]);
    assert.deepEqual([...m.get('b')!.data], [7]);
  });

  it('skips text metadata entries (tensor_type "str", as save_checkpoint writes append_dict) and still converts', async () => {
    // MindSpore writes {"arch": "lenet5"} as tag "arch", dims [0], type "str", the text as content: the whole file was refused.
    const withText = Uint8Array.from([...CKPT, ...entry('arch', [0], 'str', utf8('lenet5'))]);
    const m = readCheckpoint(withText);
    assert.equal(m.size, 18);
    assert.equal(m.has('arch'), false);
    // The same model: built from the same weights, it differs from the plain checkpoint's only in the source checksum.
    const { buildLenet5Onnx, convertCheckpoint } = await import('../../src/model/lenet5.js');
    assert.ok(convertCheckpoint(withText, { source: 'x.ckpt' }).length > 200_000);
    assert.deepEqual(buildLenet5Onnx(m), buildLenet5Onnx(readCheckpoint(CKPT)));
  });

  it('rejects a checkpoint truncated in the middle of a tensor', () => {
    for (const n of [50, 1000, 200_000, CKPT.length - 1]) {
      assert.throws(() => readCheckpoint(CKPT.subarray(0, n)), (e: unknown) => e instanceof ModelError && e.field === 'checkpoint' && /truncated/.test(e.detail));
    }
  });

  it('rejects garbage, empty input and a checkpoint without tensors', () => {
    const garbage = new Uint8Array(4096);
    let s = 12345;
    for (let i = 0; i < garbage.length; i++) garbage[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    assert.throws(() => readCheckpoint(garbage), (e: unknown) => e instanceof ModelError && e.field?.startsWith('checkpoint') === true);
    assert.throws(() => readCheckpoint(new Uint8Array(0)), (e: unknown) => e instanceof ModelError && e.field === 'checkpoint');
    assert.throws(() => readCheckpoint(utf8('{"not": "a checkpoint"}')), (e: unknown) => e instanceof ModelError);
  });

  it('names the tensor whose content does not match its dims', () => {
    const bytes = entry('fc9.weight', [3, 2], 'Float32', new Uint8Array(20));
    assert.throws(
      () => readCheckpoint(bytes),
      (e: unknown) => e instanceof ModelError && e.field === 'fc9.weight' && /20 bytes, expected 24/.test(e.detail),
    );
  });

  it('names the tensor with an unknown tensor_type and rejects duplicate tags', () => {
    assert.throws(() => readCheckpoint(entry('x', [1], 'Complex64', new Uint8Array(8))), (e: unknown) => e instanceof ModelError && e.field === 'x' && /Complex64/.test(e.detail));
    const one = entry('x', [1], 'Float32', new Uint8Array(4));
    assert.throws(() => readCheckpoint(Uint8Array.from([...one, ...one])), (e: unknown) => e instanceof ModelError && e.field === 'x' && /twice/.test(e.detail));
  });
});

/** Hostile checkpoints of about `size` bytes that protobufjs would decode into hundreds of MB of objects. */
const CKPT_BOMBS = {
  // Checkpoint { value × n }: empty entries, 2 bytes each
  entries: (size: number) => emptyMessages(1, size >> 1),
  // Checkpoint { value { tensor { dims: packed one-byte varints } } }: a Long each
  dims: (size: number) => ld(1, ld(2, ld(1, new Uint8Array(size).fill(1)))),
};

describe('readCheckpoint decode budget', () => {
  it('reads its schema off the reflected MindSpore types', () => {
    assert.deepEqual(CKPT_FORMAT.schema, {
      'mindspore.checkpoint.Checkpoint': { 1: { msg: 'mindspore.checkpoint.Value', repeated: true } },
      'mindspore.checkpoint.Value': { 1: { scalar: 'len' }, 2: { msg: 'mindspore.checkpoint.TensorProto' } },
      'mindspore.checkpoint.TensorProto': { 1: { packed: 'int64' }, 2: { scalar: 'len' }, 3: { scalar: 'len' } },
    });
  });

  it('leaves the seed checkpoint far inside the budget', () => {
    const cost = estimateProtoDecode(CKPT, CKPT_FORMAT);
    assert.ok(cost >= CKPT.length && cost < decodeBudget(CKPT.length) / 50, `estimate ${cost}`);
  });

  it('refuses hostile 6 MiB checkpoints before decoding, without the allocation (ModelError on checkpoint)', () => {
    for (const [kind, make] of Object.entries(CKPT_BOMBS)) {
      const bytes = make(6 * 2 ** 20);
      const before = process.memoryUsage().rss;
      assert.throws(
        () => readCheckpoint(bytes),
        (e: unknown) => e instanceof ModelError && e.field === 'checkpoint' && /MindSpore checkpoint would allocate more than 256 MiB/.test(e.detail),
        kind,
      );
      const grew = process.memoryUsage().rss - before;
      assert.ok(grew < 64 * 2 ** 20, `${kind}: RSS grew ${grew} bytes`);
    }
  });

  it('refuses a checkpoint whose fields the decoder would read differently from their tags', () => {
    // Value.tensor (a message) tagged as a varint: its "value" would be read as a length.
    const bytes = ld(1, Uint8Array.from([...varint(2 << 3), ...varint(5), 1, 2, 3, 4, 5]));
    assert.throws(() => readCheckpoint(bytes), (e: unknown) => e instanceof ModelError && e.field === 'checkpoint' && /not a MindSpore checkpoint.*message sent with wire type 0/.test(e.detail));
  });

  it('refuses a varint the reflected decoder cuts short at a message end, instead of leaving the rest to it (found by a review)', () => {
    // Value { tag "a", tensor { dims: 80 80 80 80 } }: the decoder, narrowed to the tensor's end, takes the 4 bytes as
    // a varint; a 10-byte overlong tag for Checkpoint.value follows, then a Value holding 6 MiB of one-byte dims. A walk
    // that read on from the dims, failed, and stopped there passed the file, and decoding it grew the heap by 338 MiB.
    const tensor = Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80]);
    const first = ld(1, Uint8Array.from([0x0a, 0x01, 0x61, 0x12, tensor.length, ...tensor]));
    const bomb = ld(2, ld(1, new Uint8Array(6 * 2 ** 20).fill(1)));
    const bytes = Uint8Array.from([...first, 0x8a, 0x80, 0x80, 0x80, 0x80, 0x80, 0, 0, 0, 0, ...varint(bomb.length), ...bomb]);
    const before = process.memoryUsage().rss;
    assert.throws(() => readCheckpoint(bytes), (e: unknown) => e instanceof ModelError && e.field === 'checkpoint' && /not a MindSpore checkpoint, or truncated/.test(e.detail));
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 64 * 2 ** 20, `RSS grew ${grew} bytes`);
  });

  it('estimates at least what protobufjs allocates decoding them (measured in a fresh process with --expose-gc)', (t) => {
    const script = `
      import { CHECKPOINT_TYPE, CKPT_FORMAT } from ${JSON.stringify(`${REPO}/src/model/ckpt.ts`)};
      import { estimateProtoDecode } from ${JSON.stringify(`${REPO}/src/model/decode-budget.ts`)};
      import { emptyMessages, ld } from ${JSON.stringify(`${REPO}/test/helpers/protobuf.ts`)};
      const bombs = { entries: (n) => emptyMessages(1, n >> 1), dims: (n) => ld(1, ld(2, ld(1, new Uint8Array(n).fill(1)))) };
      const out = {};
      const keep = [];
      for (const [kind, make] of Object.entries(bombs)) {
        const bytes = make(2 ** 20);
        globalThis.gc(); globalThis.gc();
        const before = process.memoryUsage().heapUsed;
        keep.push(CHECKPOINT_TYPE.decode(bytes));
        globalThis.gc(); globalThis.gc();
        out[kind] = { used: process.memoryUsage().heapUsed - before, estimate: estimateProtoDecode(bytes, CKPT_FORMAT) };
      }
      console.log(JSON.stringify(out));`;
    const res = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' })) as Record<string, { used: number; estimate: number }>;
    for (const [kind, { used, estimate }] of Object.entries(res)) {
      t.diagnostic(`${kind}: decoding 1 MiB allocated ${used} bytes; estimate ${estimate}`);
      assert.ok(used > 2 ** 20, `${kind}: decoding 1 MiB allocated only ${used} bytes: the measurement is not measuring`);
      assert.ok(estimate >= used, `${kind}: estimate ${estimate} < measured ${used}`);
    }
  });
});
