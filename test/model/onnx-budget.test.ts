import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../src/core/errors.js';
import { listTensorNames } from '../../src/model/graph.js';
import { decodeBudget, DECODE_COST } from '../../src/model/decode-budget.js';
import { assertDecodeBudget, estimateDecodeBytes, ONNX_SCHEMA } from '../../src/model/onnx-budget.js';
import { REPO } from '../helpers/paths.js';
import { emptyMessages, ld, varint } from '../helpers/protobuf.js';

/** The hostile shapes measured in src/model/onnx-budget.ts, each about `size` bytes. */
const BOMBS = {
  // ModelProto.graph { node × n }
  nodes: (size: number) => ld(7, emptyMessages(1, size >> 1)),
  // ModelProto.graph { node { attribute { graphs × n } } }
  subgraphs: (size: number) => ld(7, ld(1, ld(5, emptyMessages(11, size >> 1)))),
  // ModelProto.graph { initializer { int64_data: packed one-byte varints } }
  int64s: (size: number) => ld(7, ld(5, ld(7, new Uint8Array(size).fill(1)))),
};

/**
 * Further shapes whose decoding a review found the first cost figures to underestimate (up to 1.8×): many small
 * messages with one element in each repeated field, and packed arrays (whose growth holds old and new storage).
 */
const SHAPES = {
  ...BOMBS,
  // graph { initializer × n }, each TensorProto empty
  emptyTensors: (size: number) => ld(7, emptyMessages(5, size >> 1)),
  // graph { initializer × n }, each with one element in every repeated field
  fullTensors: (size: number) => {
    const tag = (f: number, w: number) => varint((f << 3) | w);
    const t = Uint8Array.from([...tag(1, 0), 1, ...tag(4, 5), 0, 0, 0, 0, ...tag(5, 0), 1, ...tag(6, 2), 0, ...tag(7, 0), 1, ...tag(10, 1), 0, 0, 0, 0, 0, 0, 0, 0, ...tag(11, 0), 1, ...tag(13, 2), 0]);
    const unit = ld(5, t);
    const out = new Uint8Array(Math.floor(size / unit.length) * unit.length);
    for (let o = 0; o < out.length; o += unit.length) out.set(unit, o);
    return ld(7, out);
  },
  // graph { node { attribute × n } }, each with one unpacked int
  attrOneInt: (size: number) => ld(7, ld(1, Uint8Array.from({ length: (size >> 2) * 4 }, (_, i) => [(5 << 3) | 2, 2, 8 << 3, 1][i % 4]!))),
  // graph { initializer { int32_data: packed one-byte varints } }
  int32s: (size: number) => ld(7, ld(5, ld(5, new Uint8Array(size).fill(1)))),
};

/** V8's young generation, which a decode may grow whatever it decodes: the allowance on measured process growth. */
const YOUNG_GENERATION = 32 * 2 ** 20;

/** How the walk must read a scalar field, by the protobufjs Reader method the generated decoder calls for it. */
const SCALAR_KIND: Record<string, string> = { int32: 'varint32', uint32: 'varint32', bool: 'varint32', int64: 'varint64', uint64: 'varint64', float: 'fixed32', double: 'fixed64', string: 'len', bytes: 'len' };

test('the schema matches the installed onnx-proto decoder: every field of every message, by number, with its type and whether it repeats', () => {
  const require = createRequire(import.meta.url);
  const src = readFileSync(require.resolve('onnx-proto'), 'utf8');
  // Each generated decoder: `<Name>.decode = function decode(reader, length) { … switch (tag >>> 3) { case n: … } … }`.
  const decoders = [...src.matchAll(/(\w+)\.decode = function decode\(reader, length\) \{([\s\S]*?)return message;/g)];
  assert.ok(decoders.length >= 20, `found ${decoders.length} decoders`);
  const shortName = (qualified: string): string => qualified.split('.').pop()!;
  const schemaByShortName = new Map(Object.entries(ONNX_SCHEMA).map(([k, v]) => [shortName(k), { name: k, fields: v }]));
  for (const [, name, body] of decoders) {
    const entry = schemaByShortName.get(name!);
    assert.ok(entry, `onnx-proto decodes ${name}, which the schema does not list`);
    const expected: Record<number, string> = {};
    const parts = body!.split(/\n\s*case (\d+):/);
    for (let i = 1; i < parts.length; i += 2) {
      const code = parts[i + 1]!;
      const msg = /\$root\.onnx\.([\w.]+)\.decode/.exec(code);
      const packed = /\(tag & 7\) === 2/.test(code) ? /push\(reader\.(\w+)\(\)/.exec(code) : null;
      // Any other field: the reader method the decoder calls (whatever the tag says).
      const scalar = /reader\.(\w+)\(\)/.exec(code)![1]!;
      const repeated = /\.push\(/.test(code) ? ' repeated' : '';
      expected[Number(parts[i])] = msg ? `msg:${msg[1]}${repeated}` : packed ? `packed:${packed[1]}` : `scalar:${SCALAR_KIND[scalar] ?? `unknown reader method ${scalar}`}${repeated}`;
    }
    const rep = (f: { repeated?: true }): string => (f.repeated ? ' repeated' : '');
    const actual = Object.fromEntries(Object.entries(entry.fields).map(([n, f]) => [n, 'msg' in f ? `msg:${f.msg}${rep(f)}` : 'packed' in f ? `packed:${f.packed}` : `scalar:${f.scalar}${rep(f)}`]));
    assert.deepEqual(actual, expected, `fields of ${entry.name}`);
  }
  assert.equal(decoders.length, Object.keys(ONNX_SCHEMA).length, 'every schema entry is a decoder of onnx-proto');
});

test('the LeNet5 model is far inside the budget, and its estimate covers its raw weights', () => {
  const bytes = readFileSync(`${REPO}/models/lenet5.onnx`);
  const cost = estimateDecodeBytes(bytes);
  assert.ok(cost >= bytes.length, `estimate ${cost} < ${bytes.length} bytes of raw_data`);
  assert.ok(cost < decodeBudget(bytes.length) / 50, `estimate ${cost}`);
  assert.doesNotThrow(() => assertDecodeBudget(bytes));
  assert.ok(listTensorNames(bytes).includes('output'));
});

test('estimates count messages, the first element of each repeated field, packed and unpacked int64s, floats and strings as documented', () => {
  // graph { node { input: "ab" } initializer { dims: [1, 300] packed, float_data: 3 floats packed, int64_data unpacked × 2 } }
  const node = ld(1, new Uint8Array([...ld(1, new TextEncoder().encode('ab'))]));
  const dims = ld(1, new Uint8Array([1, 0xac, 0x02])); // 1 and 300: two varints
  const floats = ld(4, new Uint8Array(12));
  const unpacked = new Uint8Array([7 << 3, 5, 7 << 3, 6]); // int64_data (field 7) as two varint fields
  const init = ld(5, new Uint8Array([...dims, ...floats, ...unpacked]));
  const model = ld(7, new Uint8Array([...node, ...init]));
  const c = DECODE_COST;
  const expected =
    4 * c.message /* model, graph, node, initializer */ +
    2 * c.array /* graph.node, graph.initializer: the first element of each repeated field */ +
    (c.string + 4 + c.array) /* node.input "ab" */ +
    (c.array + 2 * c.long) /* dims */ +
    (c.array + 3 * c.number) /* float_data */ +
    (c.array + 2 * c.long) /* int64_data, unpacked: one array */;
  assert.equal(estimateDecodeBytes(model), expected);
});

test('hostile 6 MiB models are refused before decoding, quickly and without the allocation (ModelError on model)', () => {
  for (const [kind, make] of Object.entries(BOMBS)) {
    const bytes = make(6 * 2 ** 20 - 64);
    assert.ok(estimateDecodeBytes(bytes) > decodeBudget(bytes.length), kind);
    const before = process.memoryUsage().rss;
    assert.throws(
      () => listTensorNames(bytes),
      (e: unknown) => e instanceof ModelError && e.field === 'model' && /would allocate more than 256 MiB/.test(e.detail),
      kind,
    );
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 64 * 2 ** 20, `${kind}: RSS grew ${grew} bytes`);
  }
});

test('truncated bytes are refused as such, by the walk, before the decoder sees them', () => {
  const truncated = ld(7, emptyMessages(1, 10)).subarray(0, 7);
  assert.throws(() => listTensorNames(truncated), (e: unknown) => e instanceof ModelError && /not an ONNX model, or truncated/.test(e.detail));
  // A length that runs past the end: the walk refuses it, naming the field.
  assert.throws(() => estimateDecodeBytes(new Uint8Array([(7 << 3) | 2, 0x7f])), /ModelProto field 7: runs past the end of its message/);
  // A varint cut off by the end: the walk fails closed (it does not leave the rest to the decoder).
  assert.throws(() => estimateDecodeBytes(new Uint8Array([(7 << 3) | 2, 0x80])), (e: unknown) => e instanceof ModelError && e.field === 'model' && /not an ONNX model, or truncated \(index out of range/.test(e.detail));
  assert.throws(() => listTensorNames(new Uint8Array([(7 << 3) | 2, 0x80])), (e: unknown) => e instanceof ModelError && /not an ONNX model, or truncated/.test(e.detail));
});

test('bytes the walk cannot read are refused, not left to a decoder that reads them (found by a review)', () => {
  // An unknown field as groups nested 150 deep, then a graph of 3 million empty nodes (~360 MiB decoded). The walk's
  // protobufjs 7 stops skipping at 100 nested groups; onnx-proto's own protobufjs 6 skips them and decodes the graph.
  const depth = 150;
  const groups = [...Array<number[]>(depth).fill([0xf3, 0x01]).flat(), ...Array<number[]>(depth).fill([0xf4, 0x01]).flat()];
  const bytes = Uint8Array.from([...groups, ...ld(7, emptyMessages(1, 3 * 2 ** 20))]);
  const before = process.memoryUsage().rss;
  assert.throws(() => listTensorNames(bytes), (e: unknown) => e instanceof ModelError && e.field === 'model' && /not an ONNX model, or truncated \(maximum nesting depth exceeded/.test(e.detail));
  const grew = process.memoryUsage().rss - before;
  assert.ok(grew < 64 * 2 ** 20, `RSS grew ${grew} bytes`);
});

test('a bomb hidden where the decoder reads the bytes differently from a naive walk is refused before decoding', () => {
  const bomb = (): Uint8Array => ld(7, ld(1, ld(5, emptyMessages(11, 2 ** 20)))); // 2 MiB: 1 million empty subgraphs, ~340 MB decoded
  const varintField = (field: number, value: number) => new Uint8Array([...varint(field << 3), ...varint(value)]);
  const concat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, q) => n + q.length, 0));
    let o = 0;
    for (const q of parts) (out.set(q, o), (o += q.length));
    return out;
  };
  const inner = bomb();
  const cases: [string, Uint8Array, RegExp][] = [
    // graph declared 3 bytes long: the decoder reads on past its end into the bomb (it never checks a child's end).
    ['a field that runs past its message', concat(new Uint8Array([(7 << 3) | 2, 3]), inner.subarray(0, 3), inner.subarray(3)), /ModelProto field 7|runs past the end/],
    // ModelProto.graph tagged as a varint: the decoder reads the "value" as the graph's length and decodes the bomb.
    ['a message field sent as a varint', concat(varintField(7, inner.length - 4), inner.subarray(4)), /message sent with wire type 0/],
    // ModelProto.ir_version (int64) sent length-delimited: the decoder reads the length as the value, then the body as ModelProto fields.
    ['a scalar field sent length-delimited', ld(1, inner), /wire type 2 where the field's type has 0/],
  ];
  for (const [what, bytes, message] of cases) {
    const before = process.memoryUsage().rss;
    assert.throws(() => listTensorNames(bytes), (e: unknown) => e instanceof ModelError && e.field === 'model' && message.test(e.detail), what);
    const grew = process.memoryUsage().rss - before;
    assert.ok(grew < 64 * 2 ** 20, `${what}: RSS grew ${grew} bytes`);
  }
  // The same bomb, well formed, is refused by its size; a well-formed model is not touched by the strict reading.
  assert.throws(() => assertDecodeBudget(inner, 64 * 2 ** 20), /would allocate more than 64 MiB/);
  assert.doesNotThrow(() => estimateDecodeBytes(readFileSync(`${REPO}/models/lenet5.onnx`)));
});

test('an overlong varint is read as the decoder reads it, so the bytes it hides are counted', () => {
  // TensorProto.data_type (int32) as a 6-byte varint: protobufjs's uint32() takes 10 bytes for it (5, then 5 more
  // blindly), skipping would take 6. Bytes 6-9 start a 'name' string whose body, where the decoder resumes, is a run
  // of 2 million one-byte int64s (a Long each, ~140 MB decoded): a walk that skipped would count it as a string.
  const n = 2_000_000;
  const hidden = ld(7, new Uint8Array(n).fill(1)); // int64_data
  const tensor = new Uint8Array([2 << 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...varint((8 << 3) | 2), ...varint(hidden.length), ...hidden]);
  assert.equal(tensor.indexOf(hidden[0]!, 7), 11, 'the decoder resumes where the hidden run starts');
  const model = ld(7, ld(5, tensor));
  const cost = estimateDecodeBytes(model);
  assert.ok(cost >= n * DECODE_COST.long, `estimate ${cost}: the hidden Longs are counted`);
  assert.throws(() => assertDecodeBudget(model, 64 * 2 ** 20), /would allocate more than 64 MiB/);
});

test('a packed varint run that does not end on a varint, or a float run not a multiple of 4 bytes, is refused', () => {
  // initializer { int64_data: [1, 2, 0x80 …], name: "abc" }: the last varint continues past the run into the name's tag.
  const int64Run = ld(7, ld(5, new Uint8Array([...ld(7, new Uint8Array([1, 2, 0x80])), ...ld(8, new TextEncoder().encode('abc'))])));
  assert.throws(() => estimateDecodeBytes(int64Run), /packed int64 run that does not end on an element/);
  const floatRun = ld(7, ld(5, new Uint8Array([...ld(4, new Uint8Array(6)), ...ld(8, new TextEncoder().encode('abc'))]))); // float_data: 6 bytes
  assert.throws(() => estimateDecodeBytes(floatRun), /packed float run that does not end on an element/);
  assert.doesNotThrow(() => estimateDecodeBytes(ld(7, ld(5, ld(4, new Uint8Array(8))))));
});

test('nesting deeper than 256 messages is refused by the walk', () => {
  // GraphProto { node { attribute { g: GraphProto { … } } } }, 100 times: 302 messages deep.
  let nested: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 100; i++) nested = ld(1, ld(5, ld(6, nested)));
  const model = ld(7, nested);
  assert.throws(() => estimateDecodeBytes(model), (e: unknown) => e instanceof ModelError && /nest more than 256 deep/.test(e.detail));
});

test('the estimate is an upper bound of what onnx-proto allocates: retained, and the process growth at its peak (a fresh process per shape, --expose-gc)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-budget-'));
  // One process per shape: memory a previous shape's garbage freed would otherwise hide this one's RSS growth.
  const script = (file: string) => `
    import onnxProto from 'onnx-proto';
    import { estimateDecodeBytes } from ${JSON.stringify(`${REPO}/src/model/onnx-budget.ts`)};
    import { readFileSync } from 'node:fs';
    const bytes = new Uint8Array(readFileSync(${JSON.stringify(file)}));
    globalThis.gc(); globalThis.gc();
    const before = process.memoryUsage();
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    const rss = process.memoryUsage().rss - before.rss; // right after decoding, before a collection: the peak
    globalThis.gc(); globalThis.gc();
    const used = process.memoryUsage().heapUsed - before.heapUsed;
    console.log(JSON.stringify({ used, rss, estimate: estimateDecodeBytes(bytes), keep: typeof model }));`;
  try {
    for (const [kind, make] of Object.entries(SHAPES)) {
      const file = join(dir, kind);
      writeFileSync(file, make(2 ** 20));
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script(file)], { cwd: REPO, encoding: 'utf8' });
      const { used, rss, estimate } = JSON.parse(out) as { used: number; rss: number; estimate: number };
      t.diagnostic(`${kind}: decoding 1 MiB retained ${used} bytes, grew the process by ${rss}; estimate ${estimate}`);
      assert.ok(used > 2 ** 20, `${kind}: decoding 1 MiB allocated only ${used} bytes: the measurement is not measuring`);
      assert.ok(estimate >= used, `${kind}: estimate ${estimate} < retained ${used}`);
      // Plus a fixed allowance: V8 grows its young generation (up to 32 MiB) whatever the shape, which at 1 MiB of
      // input is most of a small shape's growth (packed int32s: ~29 MB here for ~10 MB retained).
      assert.ok(estimate + YOUNG_GENERATION >= rss, `${kind}: estimate ${estimate} + ${YOUNG_GENERATION} < process growth ${rss}`);
      assert.ok(estimate < 5 * used, `${kind}: estimate ${estimate} is more than 5× the measured ${used}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
