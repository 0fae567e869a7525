/**
 * MindSpore `.ckpt` reader. A checkpoint is a protobuf message (MindSpore's `checkpoint.proto`):
 *
 *   message Checkpoint  { repeated Value value = 1; }
 *   message Value       { string tag = 1; TensorProto tensor = 2; }
 *   message TensorProto { repeated int64 dims = 1; string tensor_type = 2; bytes tensor_content = 3; }
 *
 * `tensor_content` holds the raw little-endian values. MindSpore writes scalars (learning rate, momentum) with
 * `dims = [0]` and one element; those come back with `dims = []`.
 *
 * The file is untrusted: protobufjs only decodes (it keeps `tensor_content` as views of the input), and every tensor's
 * dims are checked against its content length and against the decode limits (`maxRank`, `maxElements`, and
 * `maxDecodedBytes` for all tensors together) before its float32 array is allocated. Before protobufjs decodes at
 * all, a walk of the wire format estimates what the decoding itself would allocate (millions of empty entries or
 * one-byte dims, each an object) and refuses a file over the budget (src/model/decode-budget.ts).
 */
import protobuf from 'protobufjs';
import { ModelError } from '../core/errors.js';
import { assertProtoBudget, schemaOfReflection, type ProtoFormat } from './decode-budget.js';
import { checkedProduct, formatBytes, resolveLimits, type DecodeLimits } from '../io/limits.js';

/** One checkpoint entry. `data` is always widened to float32; `type` is the stored MindSpore type, e.g. `Float32`. */
export interface CheckpointTensor {
  readonly dims: number[];
  readonly type: string;
  readonly data: Float32Array;
}

interface RawTensor {
  dims?: unknown[];
  tensor_type?: string;
  tensor_content?: Uint8Array | unknown[];
}
interface RawValue {
  tag?: string;
  tensor?: RawTensor | null;
}

/** The reflected `Checkpoint` message type (exported for the decode-budget test's measurement). */
export const CHECKPOINT_TYPE = (() => {
  const root = new protobuf.Root();
  const tensorProto = new protobuf.Type('TensorProto')
    .add(new protobuf.Field('dims', 1, 'int64', 'repeated'))
    .add(new protobuf.Field('tensor_type', 2, 'string'))
    .add(new protobuf.Field('tensor_content', 3, 'bytes'));
  const value = new protobuf.Type('Value')
    .add(new protobuf.Field('tag', 1, 'string'))
    .add(new protobuf.Field('tensor', 2, 'TensorProto'));
  const checkpoint = new protobuf.Type('Checkpoint').add(new protobuf.Field('value', 1, 'Value', 'repeated'));
  root.define('mindspore.checkpoint').add(tensorProto).add(value).add(checkpoint);
  root.resolveAll();
  return checkpoint;
})();

/** The checkpoint format for the decode budget, read off the same reflected types the decoder is generated from. */
export const CKPT_FORMAT: ProtoFormat = {
  schema: schemaOfReflection(CHECKPOINT_TYPE),
  root: CHECKPOINT_TYPE.fullName.replace(/^\./, ''),
  field: 'checkpoint',
  noun: 'a MindSpore checkpoint',
  advice: 'real checkpoints hold a few hundred tensors with their values in tensor_content',
};

/** Bytes per element and a little-endian reader for each MindSpore tensor type we widen to float32. */
const TYPES: Record<string, { size: number; read: (v: DataView, off: number) => number }> = {
  Float32: { size: 4, read: (v, o) => v.getFloat32(o, true) },
  Float64: { size: 8, read: (v, o) => v.getFloat64(o, true) },
  Float16: { size: 2, read: (v, o) => halfToFloat(v.getUint16(o, true)) },
  Int8: { size: 1, read: (v, o) => v.getInt8(o) },
  UInt8: { size: 1, read: (v, o) => v.getUint8(o) },
  Int16: { size: 2, read: (v, o) => v.getInt16(o, true) },
  UInt16: { size: 2, read: (v, o) => v.getUint16(o, true) },
  Int32: { size: 4, read: (v, o) => v.getInt32(o, true) },
  UInt32: { size: 4, read: (v, o) => v.getUint32(o, true) },
  Int64: { size: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  UInt64: { size: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
  Bool: { size: 1, read: (v, o) => (v.getUint8(o) ? 1 : 0) },
};

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** protobufjs decodes int64 as a `Long` (or a number when `long` is absent). */
function toDim(d: unknown, field: string): number {
  const n = typeof d === 'number' ? d : Number(String(d));
  if (!Number.isSafeInteger(n) || n < 0) throw new ModelError(field, `dimension ${String(d)} is not a non-negative integer`);
  return n;
}

/**
 * Decodes a MindSpore checkpoint into a map from tag (`conv1.weight`, `moments.fc1.bias`, ...) to tensor.
 * Throws ModelError with field `checkpoint` when the bytes are not a checkpoint (garbage, truncated mid-message)
 * and with the tensor's tag as field when one entry is inconsistent (content length vs dims, unknown type).
 */
export function readCheckpoint(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Map<string, CheckpointTensor> {
  const lim = resolveLimits(limits);
  if (!(bytes instanceof Uint8Array)) throw new ModelError('checkpoint', 'expected the checkpoint file bytes (Uint8Array)');
  if (bytes.length === 0) throw new ModelError('checkpoint', 'file is empty');
  assertProtoBudget(bytes, CKPT_FORMAT);
  let values: RawValue[];
  try {
    const msg = CHECKPOINT_TYPE.decode(bytes) as unknown as { value?: RawValue[] };
    values = msg.value ?? [];
  } catch (e) {
    throw new ModelError('checkpoint', `not a MindSpore checkpoint, or truncated (${(e as Error).message}; file has ${bytes.length} bytes)`, { cause: e });
  }
  if (values.length === 0) throw new ModelError('checkpoint', `contains no tensors (${bytes.length} bytes)`);

  const out = new Map<string, CheckpointTensor>();
  let decodedBytes = 0;
  values.forEach((v, i) => {
    const tag = v.tag ?? '';
    if (tag === '') throw new ModelError(`checkpoint.value[${i}].tag`, 'entry has no tag (not a MindSpore checkpoint?)');
    if (out.has(tag)) throw new ModelError(tag, `tag appears twice (entry ${i})`);
    const t = v.tensor;
    if (!t) throw new ModelError(tag, 'entry has no tensor');
    const type = t.tensor_type ?? '';
    // Text metadata (MindSpore's save_checkpoint stores append_dict / append_info strings as tensor_type "str", dims
    // [0]): no tensor, and nothing a conversion reads, so it is skipped rather than refusing the whole file.
    if (type === 'str') return;
    const spec = TYPES[type];
    if (!spec) throw new ModelError(tag, `unsupported tensor_type ${JSON.stringify(type)} (known: ${Object.keys(TYPES).join(', ')})`);
    const rawDims = t.dims ?? [];
    if (rawDims.length > lim.maxRank) throw new ModelError(`${tag}.dims`, `${rawDims.length} dimensions, more than maxRank ${lim.maxRank}`);
    let dims = rawDims.map((d, k) => toDim(d, `${tag}.dims[${k}]`));
    // protobufjs leaves an absent bytes field as its default, an empty Array (not a Uint8Array): found by the fuzzer.
    const content = t.tensor_content instanceof Uint8Array ? t.tensor_content : new Uint8Array(0);
    // MindSpore stores a scalar as dims [0] holding one element.
    if (dims.length === 1 && dims[0] === 0 && content.length === spec.size) dims = [];
    const count = checkedProduct(dims);
    if (content.length !== count * spec.size) {
      throw new ModelError(
        tag,
        `tensor_content has ${content.length} bytes, expected ${count * spec.size} (dims [${dims.join(',')}] × ${spec.size} bytes ${type}); checkpoint truncated or corrupt`,
      );
    }
    if (count > lim.maxElements) throw new ModelError(tag, `${count} elements, more than maxElements ${lim.maxElements}`);
    decodedBytes += count * 4;
    if (decodedBytes > lim.maxDecodedBytes) {
      throw new ModelError(tag, `the tensors up to this one decode to ${formatBytes(decodedBytes)} of float32, more than maxDecodedBytes ${formatBytes(lim.maxDecodedBytes)}`);
    }
    const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
    const data = new Float32Array(count);
    for (let k = 0; k < count; k++) data[k] = spec.read(view, k * spec.size);
    out.set(tag, { dims, type, data });
  });
  return out;
}
