/**
 * A memory budget for decoding ONNX bytes, checked before onnx-proto decodes them.
 *
 * protobufjs builds every message and array element before any count can be checked, and the cost per byte of input
 * varies by three orders of magnitude: a 6 MiB model of 3 million empty subgraphs (2 bytes each) took 1.07 GB to
 * decode, 3 million empty nodes 0.58 GB, 6 million one-byte int64s (each a `Long` object) 0.45 GB (measured on Node 20,
 * test/model/onnx-budget.test.ts). This walks the wire format once with protobufjs's own Reader, keeping nothing,
 * adds up an upper estimate of what decoding would allocate, and refuses the model before decoding when that exceeds
 * the budget.
 *
 * The walk must read the bytes exactly as the generated decoder will, or a bomb could hide where the two disagree: the
 * decoder reads a known field by its declared type whatever wire type the tag says (a message field tagged as a
 * varint has its "value" read as a length, a scalar tagged length-delimited has its length read as the value and its
 * body parsed as fields of the parent), it never checks that a field ends inside its message, and its two varint
 * readers consume an overlong varint differently (uint32() takes 10 bytes for any varint over 5). So every known field
 * must carry the wire type of its declared type (packed arrays: length-delimited or one element's) and is read with
 * the decoder's own Reader method, and every field must end inside its message; anything else is refused as malformed. What the walk cannot read at all (a varint or a
 * field cut off by the end of the bytes) the decoder cannot read either, at the same place: left to it to report.
 *
 * The schema below is onnx-proto 8.0.1's (ONNX 1.10.2): for each message, every field the decoder knows, with its wire
 * type, its message type or its packed element type. A test compares it with the installed decoder, field by field.
 */
import protobuf from 'protobufjs/minimal.js';
import { ModelError } from '../core/errors.js';

type Packed = 'int64' | 'uint64' | 'int32' | 'float' | 'double';
/** A known field: a message, a packed numeric array, or a scalar read as a varint, fixed 32/64-bit or length-delimited. */
type Field = { readonly msg: string } | { readonly packed: Packed } | { readonly scalar: Scalar };
/**
 * How the decoder reads a scalar: a 32-bit varint (`uint32()`: int32, enum, bool), a 64-bit varint (`int64()`), fixed
 * 32 or 64 bits, or length-delimited. The two varint readers consume overlong encodings differently from each other
 * and from skipping, so the walk reads each with the decoder's own method.
 */
type Scalar = 'varint32' | 'varint64' | 'fixed32' | 'fixed64' | 'len';
const SCALAR_WIRE: Record<Scalar, Wire> = { varint32: 0, varint64: 0, fixed32: 5, fixed64: 1, len: 2 };

/** Protobuf wire types. */
const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;
type Wire = (typeof WIRE)[keyof typeof WIRE];

const m = (msg: string): Field => ({ msg });
const p = (packed: Packed): Field => ({ packed });
const V32: Field = { scalar: 'varint32' };
const V64: Field = { scalar: 'varint64' };
const LEN: Field = { scalar: 'len' };
const F32: Field = { scalar: 'fixed32' };

/** Every field of each ONNX message, by field number. */
export const ONNX_SCHEMA: Readonly<Record<string, Readonly<Record<number, Field>>>> = {
  ModelProto: { 1: V64, 2: LEN, 3: LEN, 4: LEN, 5: V64, 6: LEN, 7: m('GraphProto'), 8: m('OperatorSetIdProto'), 14: m('StringStringEntryProto'), 20: m('TrainingInfoProto'), 25: m('FunctionProto') },
  GraphProto: {
    1: m('NodeProto'),
    2: LEN,
    5: m('TensorProto'),
    10: LEN,
    11: m('ValueInfoProto'),
    12: m('ValueInfoProto'),
    13: m('ValueInfoProto'),
    14: m('TensorAnnotation'),
    15: m('SparseTensorProto'),
  },
  NodeProto: { 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: m('AttributeProto'), 6: LEN, 7: LEN },
  AttributeProto: {
    1: LEN,
    2: F32,
    3: V64,
    4: LEN,
    5: m('TensorProto'),
    6: m('GraphProto'),
    7: p('float'),
    8: p('int64'),
    9: LEN,
    10: m('TensorProto'),
    11: m('GraphProto'),
    13: LEN,
    14: m('TypeProto'),
    15: m('TypeProto'),
    20: V32,
    21: LEN,
    22: m('SparseTensorProto'),
    23: m('SparseTensorProto'),
  },
  TensorProto: {
    1: p('int64'),
    2: V32,
    3: m('TensorProto.Segment'),
    4: p('float'),
    5: p('int32'),
    6: LEN,
    7: p('int64'),
    8: LEN,
    9: LEN,
    10: p('double'),
    11: p('uint64'),
    12: LEN,
    13: m('StringStringEntryProto'),
    14: V32,
  },
  'TensorProto.Segment': { 1: V64, 2: V64 },
  SparseTensorProto: { 1: m('TensorProto'), 2: m('TensorProto'), 3: p('int64') },
  ValueInfoProto: { 1: LEN, 2: m('TypeProto'), 3: LEN },
  TypeProto: {
    1: m('TypeProto.Tensor'),
    4: m('TypeProto.Sequence'),
    5: m('TypeProto.Map'),
    6: LEN,
    8: m('TypeProto.SparseTensor'),
    9: m('TypeProto.Optional'),
  },
  'TypeProto.Tensor': { 1: V32, 2: m('TensorShapeProto') },
  'TypeProto.Sequence': { 1: m('TypeProto') },
  'TypeProto.Map': { 1: V32, 2: m('TypeProto') },
  'TypeProto.Optional': { 1: m('TypeProto') },
  'TypeProto.SparseTensor': { 1: V32, 2: m('TensorShapeProto') },
  TensorShapeProto: { 1: m('TensorShapeProto.Dimension') },
  'TensorShapeProto.Dimension': { 1: V64, 2: LEN, 3: LEN },
  TensorAnnotation: { 1: LEN, 2: m('StringStringEntryProto') },
  TrainingInfoProto: { 1: m('GraphProto'), 2: m('GraphProto'), 3: m('StringStringEntryProto'), 4: m('StringStringEntryProto') },
  FunctionProto: { 1: LEN, 4: LEN, 5: LEN, 6: LEN, 7: m('NodeProto'), 8: LEN, 9: m('OperatorSetIdProto'), 10: LEN },
  OperatorSetIdProto: { 1: LEN, 2: V64 },
  StringStringEntryProto: { 1: LEN, 2: LEN },
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

/** How the decoder reads one element of each packed array type, and what the element costs once decoded. */
const ELEMENT: Record<Packed, { readonly scalar: Scalar; readonly cost: number }> = {
  int64: { scalar: 'varint64', cost: DECODE_COST.long },
  uint64: { scalar: 'varint64', cost: DECODE_COST.long },
  int32: { scalar: 'varint32', cost: DECODE_COST.number },
  float: { scalar: 'fixed32', cost: DECODE_COST.number },
  double: { scalar: 'fixed64', cost: DECODE_COST.number },
};

/** The wire type of one element of a packed array sent unpacked. */
function elementWire(kind: Packed): Wire {
  return SCALAR_WIRE[ELEMENT[kind].scalar];
}

/** Reads one element of a packed array as the decoder does (same Reader method, so the same bytes); returns its cost. */
function readElement(reader: protobuf.Reader, kind: Packed): number {
  readScalar(reader, ELEMENT[kind].scalar);
  return ELEMENT[kind].cost;
}

/** Reads one scalar as the decoder does; returns its cost. */
function readScalar(reader: protobuf.Reader, kind: Scalar): number {
  switch (kind) {
    case 'varint32':
      reader.uint32();
      return 0;
    case 'varint64':
      reader.int64();
      return 0;
    case 'fixed32':
      reader.float();
      return 0;
    case 'fixed64':
      reader.double();
      return 0;
    case 'len': {
      const len = reader.uint32();
      reader.skip(len);
      return DECODE_COST.string + 2 * len;
    }
  }
}

/** Refuses bytes the decoder would read differently from the walk. */
function malformed(type: string, field: number, what: string, bytes: Uint8Array): never {
  throw new ModelError('model', `not an ONNX model, or truncated (${type} field ${field}: ${what}; ${bytes.length} bytes)`);
}

/**
 * Estimates what decoding `bytes` as an ONNX ModelProto would allocate, stopping as soon as the estimate passes
 * `budget` (so the walk is cheap on a hostile input too). Returns the estimate (so far, when the bytes end mid-field:
 * the decoder reports that), or throws a ModelError on bytes the decoder would read differently.
 */
export function estimateDecodeBytes(bytes: Uint8Array, budget = Infinity): number {
  const reader = protobuf.Reader.create(bytes);
  const stack: { type: string; end: number }[] = [{ type: 'ModelProto', end: bytes.length }];
  let cost = DECODE_COST.message;
  try {
    while (stack.length > 0 && cost <= budget) {
      const top = stack[stack.length - 1]!;
      if (reader.pos >= top.end) {
        stack.pop();
        continue;
      }
      const tag = reader.uint32();
      const number = tag >>> 3;
      const wire = tag & 7;
      const field = ONNX_SCHEMA[top.type]?.[number];
      if (field === undefined) {
        reader.skipType(wire); // unknown: the decoder skips it the same way
      } else if ('msg' in field) {
        if (wire !== WIRE.LEN) malformed(top.type, number, `a message sent with wire type ${wire}`, bytes);
        const len = reader.uint32();
        if (reader.pos + len > top.end) malformed(top.type, number, 'runs past the end of its message', bytes);
        if (stack.length >= MAX_DEPTH) throw new ModelError('model', `messages nest more than ${MAX_DEPTH} deep`);
        cost += DECODE_COST.message;
        stack.push({ type: field.msg, end: reader.pos + len });
        continue;
      } else if ('packed' in field) {
        if (wire === WIRE.LEN) {
          const end = reader.uint32() + reader.pos;
          if (end > top.end) malformed(top.type, number, 'runs past the end of its message', bytes);
          // Element by element with the decoder's own reads (an overlong varint takes it as many bytes as it takes the
          // decoder), stopping once the budget is passed.
          while (reader.pos < end && cost <= budget) cost += readElement(reader, field.packed);
          if (cost > budget) break;
          if (reader.pos !== end) malformed(top.type, number, `a packed ${field.packed} run that does not end on an element`, bytes);
        } else if (wire === elementWire(field.packed)) {
          cost += readElement(reader, field.packed); // one element, unpacked
        } else {
          malformed(top.type, number, `a ${field.packed} sent with wire type ${wire}`, bytes);
        }
      } else {
        const expected = SCALAR_WIRE[field.scalar];
        if (wire !== expected) malformed(top.type, number, `wire type ${wire} where the field's type has ${expected}`, bytes);
        cost += readScalar(reader, field.scalar);
      }
      if (reader.pos > top.end) malformed(top.type, number, 'runs past the end of its message', bytes);
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    return cost; // protobufjs could not read a varint or a field cut off by the end: the decoder stops there too
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
