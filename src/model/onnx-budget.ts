/**
 * A memory budget for decoding ONNX bytes, checked before onnx-proto decodes them.
 *
 * protobufjs builds every message and array element before any count can be checked, and the cost per byte of input
 * varies by three orders of magnitude: a 6 MiB model of 3 million empty subgraphs (2 bytes each) took 1.07 GB to
 * decode, 3 million empty nodes 0.58 GB, 6 million one-byte int64s (each a `Long` object) 0.45 GB (measured on Node 20,
 * test/model/onnx-budget.test.ts). This walks the wire format once with protobufjs's own Reader, allocating nothing,
 * adds up an upper estimate of what decoding would allocate, and refuses the model before decoding when that exceeds
 * the budget. Malformed bytes are left for the decoder to report: the walk just stops.
 *
 * The schema below is onnx-proto 8.0.1's (ONNX 1.10.2): for each message, the fields that hold messages or packed
 * numeric arrays. Every other field is a scalar, a string or bytes. A test compares it with the installed decoder.
 */
import protobuf from 'protobufjs/minimal.js';
import { ModelError } from '../core/errors.js';

type Packed = 'int64' | 'uint64' | 'int32' | 'float' | 'double';
type Field = { readonly msg: string } | { readonly packed: Packed };

const m = (msg: string): Field => ({ msg });
const p = (packed: Packed): Field => ({ packed });

/** Message and packed-array fields of each ONNX message, by field number. */
export const ONNX_SCHEMA: Readonly<Record<string, Readonly<Record<number, Field>>>> = {
  ModelProto: { 7: m('GraphProto'), 8: m('OperatorSetIdProto'), 14: m('StringStringEntryProto'), 20: m('TrainingInfoProto'), 25: m('FunctionProto') },
  GraphProto: {
    1: m('NodeProto'),
    5: m('TensorProto'),
    11: m('ValueInfoProto'),
    12: m('ValueInfoProto'),
    13: m('ValueInfoProto'),
    14: m('TensorAnnotation'),
    15: m('SparseTensorProto'),
  },
  NodeProto: { 5: m('AttributeProto') },
  AttributeProto: {
    5: m('TensorProto'),
    6: m('GraphProto'),
    7: p('float'),
    8: p('int64'),
    10: m('TensorProto'),
    11: m('GraphProto'),
    14: m('TypeProto'),
    15: m('TypeProto'),
    22: m('SparseTensorProto'),
    23: m('SparseTensorProto'),
  },
  TensorProto: {
    1: p('int64'),
    3: m('TensorProto.Segment'),
    4: p('float'),
    5: p('int32'),
    7: p('int64'),
    10: p('double'),
    11: p('uint64'),
    13: m('StringStringEntryProto'),
  },
  'TensorProto.Segment': {},
  SparseTensorProto: { 1: m('TensorProto'), 2: m('TensorProto'), 3: p('int64') },
  ValueInfoProto: { 2: m('TypeProto') },
  TypeProto: {
    1: m('TypeProto.Tensor'),
    4: m('TypeProto.Sequence'),
    5: m('TypeProto.Map'),
    8: m('TypeProto.SparseTensor'),
    9: m('TypeProto.Optional'),
  },
  'TypeProto.Tensor': { 2: m('TensorShapeProto') },
  'TypeProto.Sequence': { 1: m('TypeProto') },
  'TypeProto.Map': { 2: m('TypeProto') },
  'TypeProto.Optional': { 1: m('TypeProto') },
  'TypeProto.SparseTensor': { 2: m('TensorShapeProto') },
  TensorShapeProto: { 1: m('TensorShapeProto.Dimension') },
  'TensorShapeProto.Dimension': {},
  TensorAnnotation: { 2: m('StringStringEntryProto') },
  TrainingInfoProto: { 1: m('GraphProto'), 2: m('GraphProto'), 3: m('StringStringEntryProto'), 4: m('StringStringEntryProto') },
  FunctionProto: { 7: m('NodeProto'), 9: m('OperatorSetIdProto') },
  OperatorSetIdProto: {},
  StringStringEntryProto: {},
};

/**
 * Estimated bytes per decoded item, upper bounds of what was measured: an empty GraphProto (the message with the most
 * repeated fields, each an array) 341 B, a `Long` 71 B, a number in a packed array 8 B; a string or bytes field costs
 * its length twice (UTF-16) plus a header.
 */
export const DECODE_COST = { message: 400, long: 80, number: 8, string: 64 } as const;

/** The default budget: 256 MiB, or 8× the model's size for a larger model (a model of float_data decodes to 2×). */
export function decodeBudget(byteLength: number): number {
  return Math.max(256 * 2 ** 20, 8 * byteLength);
}

/** Messages may nest this deep (subgraphs inside attributes, types inside sequence types). */
const MAX_DEPTH = 256;

/** Number of varints in a packed run: one per byte without the continuation bit. */
function countVarints(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (buf[i]! < 0x80) n++;
  return n;
}

function packedCost(kind: Packed, bytes: Uint8Array, start: number, end: number): number {
  switch (kind) {
    case 'int64':
    case 'uint64':
      return countVarints(bytes, start, end) * DECODE_COST.long;
    case 'int32':
      return countVarints(bytes, start, end) * DECODE_COST.number;
    case 'float':
      return ((end - start) >>> 2) * DECODE_COST.number;
    case 'double':
      return ((end - start) >>> 3) * DECODE_COST.number;
  }
}

function elementCost(kind: Packed): number {
  return kind === 'int64' || kind === 'uint64' ? DECODE_COST.long : DECODE_COST.number;
}

/**
 * Estimates what decoding `bytes` as an ONNX ModelProto would allocate, stopping as soon as the estimate passes
 * `budget` (so the walk is cheap on a hostile input too). Returns the estimate, or the estimate so far when the bytes
 * are malformed (the decoder reports those).
 */
export function estimateDecodeBytes(bytes: Uint8Array, budget = Infinity): number {
  const reader = protobuf.Reader.create(bytes);
  const stack: { type: string; end: number }[] = [{ type: 'ModelProto', end: bytes.length }];
  let cost = DECODE_COST.message;
  try {
    while (stack.length > 0 && cost <= budget) {
      const top = stack[stack.length - 1]!;
      if (reader.pos >= top.end) {
        if (reader.pos > top.end) return cost; // a field ran past its message: malformed
        stack.pop();
        continue;
      }
      const tag = reader.uint32();
      const wire = tag & 7;
      const field = ONNX_SCHEMA[top.type]?.[tag >>> 3];
      if (wire !== 2) {
        if (field && 'packed' in field) cost += elementCost(field.packed); // one element of an unpacked array
        reader.skipType(wire);
        continue;
      }
      const len = reader.uint32();
      const start = reader.pos;
      const end = start + len;
      if (end > top.end) return cost;
      if (field && 'msg' in field) {
        if (stack.length >= MAX_DEPTH) throw new ModelError('model', `messages nest more than ${MAX_DEPTH} deep`);
        cost += DECODE_COST.message;
        stack.push({ type: field.msg, end });
        continue;
      }
      cost += field ? packedCost(field.packed, bytes, start, end) : DECODE_COST.string + 2 * len;
      reader.pos = end;
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    return cost; // protobufjs could not read a varint or a skipped field: malformed, left to the decoder
  }
  return cost;
}

/** Refuses, before decoding, a model whose decoding would allocate more than the budget (ModelError on `model`). */
export function assertDecodeBudget(bytes: Uint8Array, budget = decodeBudget(bytes.length)): void {
  const cost = estimateDecodeBytes(bytes, budget);
  if (cost > budget) {
    const mb = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
    throw new ModelError(
      'model',
      `decoding this ${bytes.length}-byte ONNX model would allocate more than ${mb(budget)} (its messages and arrays are too many for its size; real models keep weights in raw_data)`,
    );
  }
}
