/**
 * A memory budget for decoding untrusted protobuf bytes (ONNX models, MindSpore checkpoints), checked before
 * protobufjs decodes them.
 *
 * protobufjs builds every message and array element before any count can be checked, and the cost per byte of input
 * varies by three orders of magnitude: a 6 MiB ONNX model of 3 million empty subgraphs (2 bytes each) took 1.07 GB to
 * decode, 3 million empty nodes 0.58 GB, 6 million one-byte int64s (each a `Long` object) 0.45 GB; a 6 MiB checkpoint
 * of one-byte dims 0.44 GB (measured on Node 20, test/model/onnx-budget.test.ts and test/model/ckpt.test.ts). This
 * walks the wire format once with protobufjs's Reader, keeping nothing, adds up an upper estimate of what
 * decoding would allocate, and refuses the bytes before decoding when that exceeds the budget.
 *
 * The walk must read the bytes exactly as the decoder will, or a bomb could hide where the two disagree: a decoder
 * reads a known field by its declared type whatever wire type the tag says (a message field tagged as a varint has its
 * "value" read as a length, a scalar tagged length-delimited has its length read as the value and its body parsed as
 * fields of the parent), onnx-proto's generated decoder never checks that a field ends inside its message, and
 * protobufjs's two varint readers consume an overlong varint differently (uint32() takes 10 bytes for any varint over
 * 5). So every known field must carry the wire type of its declared type (packed arrays: length-delimited or one
 * element's) and is read with the decoder's own Reader method, and every field must end inside its message; anything
 * else is refused as malformed.
 *
 * The walk fails closed: bytes it cannot read to the end are refused, never passed on to the decoder. Its Reader is not
 * always the decoder's own, so the two can part on malformed bytes. onnx-proto decodes with its own protobufjs 6,
 * whose `skipType` has no depth limit where this one (7) stops at 100 nested groups. The checkpoint's reflected
 * decoder narrows the Reader to each message's end, where an unterminated varint is cut after 4 bytes where this
 * walk reads on. A walk that stopped there and let the decoder go on would have missed whatever followed (a review
 * hid 340 MiB of decoding behind each). On well-formed bytes the readers agree.
 *
 * Each format supplies its schema: for each message, every field the decoder knows, with its message type, its packed
 * element type or how its scalar is read ({@link ProtoFormat}).
 */
import protobuf from 'protobufjs/minimal.js';
import type { Type as ReflectedType } from 'protobufjs';
import { ModelError } from '../core/errors.js';

/** Packable field types, as protobufjs names them (and as the Reader method that reads one element). */
export type Packed = 'int64' | 'uint64' | 'sint64' | 'fixed64' | 'sfixed64' | 'int32' | 'uint32' | 'sint32' | 'bool' | 'fixed32' | 'sfixed32' | 'float' | 'double';
/**
 * A known field: a message, a packed numeric array, or a scalar read as a varint, fixed 32/64-bit or length-delimited.
 * `repeated` marks a repeated message or scalar field (a packed field always is): its array's first element costs more.
 */
export type Field = { readonly msg: string; readonly repeated?: true } | { readonly packed: Packed } | { readonly scalar: Scalar; readonly repeated?: true };
/**
 * How the decoder reads a scalar: a 32-bit varint (`uint32()`: int32, enum, bool), a 64-bit varint (`int64()`), fixed
 * 32 or 64 bits, or length-delimited. The two varint readers consume overlong encodings differently from each other
 * and from skipping, so the walk reads each with the decoder's own method.
 */
export type Scalar = 'varint32' | 'varint64' | 'fixed32' | 'fixed64' | 'len';
/** Every known field of each message, by field number. */
export type ProtoSchema = Readonly<Record<string, Readonly<Record<number, Field>>>>;

/** A protobuf file format the walk can budget. */
export interface ProtoFormat {
  readonly schema: ProtoSchema;
  /** The message the file holds. */
  readonly root: string;
  /** The field errors name, e.g. `model` or `checkpoint`. */
  readonly field: string;
  /** What the bytes should be, for errors: `an ONNX model`. */
  readonly noun: string;
  /** Why a real file is far inside the budget, appended to the refusal. */
  readonly advice: string;
}

const SCALAR_WIRE: Record<Scalar, Wire> = { varint32: 0, varint64: 0, fixed32: 5, fixed64: 1, len: 2 };

/** Protobuf wire types. */
const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;
type Wire = (typeof WIRE)[keyof typeof WIRE];

/**
 * Estimated bytes per decoded item, upper bounds of what was measured as process (RSS) growth while decoding, on Node
 * 20 and on Lambda's Node 24, where the heap keeps more slack: an empty ONNX TensorProto (a message with many repeated
 * fields, each an array) ~380–420 B, a `Long` ~73–93 B, a number in a packed array 8 B retained but ~18 B while its
 * array grows; the first element of a repeated field in a message allocates the array's backing store (~150–260 B); a
 * string or bytes field costs its length twice (UTF-16) plus a header (an empty bytes field is a fresh Uint8Array). A
 * review measured where the first version of these figures fell short (one element in every repeated field of many
 * small messages decoded to 1.8× its estimate). test/model/onnx-budget.test.ts checks them on seven shapes.
 */
export const DECODE_COST = { message: 600, long: 128, number: 24, string: 200, array: 260 } as const;

/** The default budget: 256 MiB, or 8× the file's size for a larger one (a model of float_data decodes to 2×). */
export function decodeBudget(byteLength: number): number {
  return Math.max(256 * 2 ** 20, 8 * byteLength);
}

/** Messages may nest this deep (subgraphs inside attributes, types inside sequence types). */
const MAX_DEPTH = 256;

/** How the decoder reads one element of each packed array type. */
const ELEMENT: Record<Packed, Scalar> = {
  ...{ int64: 'varint64', uint64: 'varint64', sint64: 'varint64', int32: 'varint32', uint32: 'varint32', sint32: 'varint32', bool: 'varint32' },
  ...{ fixed64: 'fixed64', sfixed64: 'fixed64', double: 'fixed64', fixed32: 'fixed32', sfixed32: 'fixed32', float: 'fixed32' },
};

/** What one decoded element costs: a 64-bit integer is a `Long` object, anything else a number. */
function elementCost(kind: Packed): number {
  return kind.endsWith('64') ? DECODE_COST.long : DECODE_COST.number;
}

/** How protobufjs reads a scalar of each (non-packed) type: the Reader method's wire format. */
const SCALAR_OF_TYPE: Readonly<Record<string, Scalar>> = {
  ...ELEMENT,
  string: 'len',
  bytes: 'len',
};

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

/**
 * The schema of a message type defined through protobufjs reflection (`protobuf.Type`), with every message type it
 * reaches: read off the same field definitions its decoder is generated from, so the two cannot drift apart.
 */
export function schemaOfReflection(root: ReflectedType): ProtoSchema {
  const schema: Record<string, Record<number, Field>> = {};
  const visit = (type: ReflectedType): void => {
    const name = type.fullName.replace(/^\./, '');
    if (schema[name]) return;
    const fields: Record<number, Field> = {};
    schema[name] = fields;
    for (const f of type.fieldsArray) {
      f.resolve();
      if (f.map) throw new Error(`${name}.${f.name}: map fields are not supported by the decode budget`);
      const resolved = f.resolvedType;
      if (resolved && 'fieldsArray' in resolved) {
        fields[f.id] = { msg: resolved.fullName.replace(/^\./, ''), ...(f.repeated ? { repeated: true as const } : {}) };
        visit(resolved as ReflectedType);
        continue;
      }
      const type_ = resolved ? 'int32' : f.type; // an enum is read as an int32
      if (f.repeated && type_ in ELEMENT) fields[f.id] = { packed: type_ as Packed };
      else if (SCALAR_OF_TYPE[type_]) fields[f.id] = { scalar: SCALAR_OF_TYPE[type_]!, ...(f.repeated ? { repeated: true as const } : {}) };
      else throw new Error(`${name}.${f.name}: type ${type_} is not supported by the decode budget`);
    }
  };
  visit(root);
  return schema;
}

/** Refuses bytes the decoder would read differently from the walk. */
function malformed(format: ProtoFormat, type: string, field: number, what: string, bytes: Uint8Array): never {
  throw new ModelError(format.field, `not ${format.noun}, or truncated (${type} field ${field}: ${what}; file has ${bytes.length} bytes)`);
}

/**
 * Estimates what decoding `bytes` as `format` would allocate, stopping as soon as the estimate passes `budget` (so the
 * walk is cheap on a hostile input too). Returns the estimate, or throws a ModelError on bytes that are cut off,
 * malformed, or that the decoder would read differently.
 */
export function estimateProtoDecode(bytes: Uint8Array, format: ProtoFormat, budget = Infinity): number {
  const { schema } = format;
  const reader = protobuf.Reader.create(bytes);
  // `seen`: the repeated fields met so far in that message (bit n for field n < 31, the rest in `seenHigh`).
  const stack: { type: string; end: number; seen: number; seenHigh?: Set<number> }[] = [{ type: format.root, end: bytes.length, seen: 0 }];
  /** The cost of a repeated field's array: charged the first time the field appears in the current message. */
  const arrayCost = (top: (typeof stack)[number], number: number): number => {
    if (number < 31) {
      if (top.seen & (1 << number)) return 0;
      top.seen |= 1 << number;
      return DECODE_COST.array;
    }
    top.seenHigh ??= new Set();
    if (top.seenHigh.has(number)) return 0;
    top.seenHigh.add(number);
    return DECODE_COST.array;
  };
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
      const field = schema[top.type]?.[number];
      if (field === undefined) {
        reader.skipType(wire); // unknown: the decoder skips it the same way
      } else if ('msg' in field) {
        if (wire !== WIRE.LEN) malformed(format, top.type, number, `a message sent with wire type ${wire}`, bytes);
        const len = reader.uint32();
        if (reader.pos + len > top.end) malformed(format, top.type, number, 'runs past the end of its message', bytes);
        if (stack.length >= MAX_DEPTH) throw new ModelError(format.field, `messages nest more than ${MAX_DEPTH} deep`);
        cost += DECODE_COST.message + (field.repeated ? arrayCost(top, number) : 0);
        stack.push({ type: field.msg, end: reader.pos + len, seen: 0 });
        continue;
      } else if ('packed' in field) {
        // Each element is read with the decoder's own Reader method (same bytes, an overlong varint included).
        const element = ELEMENT[field.packed];
        const each = elementCost(field.packed);
        cost += arrayCost(top, number);
        if (wire === WIRE.LEN) {
          const end = reader.uint32() + reader.pos;
          if (end > top.end) malformed(format, top.type, number, 'runs past the end of its message', bytes);
          // Element by element, stopping once the budget is passed.
          while (reader.pos < end && cost <= budget) cost += readScalar(reader, element) + each;
          if (cost > budget) break;
          if (reader.pos !== end) malformed(format, top.type, number, `a packed ${field.packed} run that does not end on an element`, bytes);
        } else if (wire === SCALAR_WIRE[element]) {
          cost += readScalar(reader, element) + each; // one element, unpacked
        } else {
          malformed(format, top.type, number, `a ${field.packed} sent with wire type ${wire}`, bytes);
        }
      } else {
        const expected = SCALAR_WIRE[field.scalar];
        if (wire !== expected) malformed(format, top.type, number, `wire type ${wire} where the field's type has ${expected}`, bytes);
        cost += readScalar(reader, field.scalar) + (field.repeated ? arrayCost(top, number) : 0);
      }
      if (reader.pos > top.end) malformed(format, top.type, number, 'runs past the end of its message', bytes);
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    // Cut off by the end, an unterminated varint, groups nested too deep: refused, never left to the decoder (above).
    throw new ModelError(format.field, `not ${format.noun}, or truncated (${(e as Error).message} at byte ${reader.pos}; file has ${bytes.length} bytes)`, { cause: e });
  }
  return cost;
}

/** Refuses, before decoding, bytes whose decoding would allocate more than the budget (ModelError on the format's field). */
export function assertProtoBudget(bytes: Uint8Array, format: ProtoFormat, budget = decodeBudget(bytes.length)): void {
  const cost = estimateProtoDecode(bytes, format, budget);
  if (cost > budget) {
    const mb = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
    throw new ModelError(
      format.field,
      `decoding this ${bytes.length}-byte ${format.noun.replace(/^an? /, '')} would allocate more than ${mb(budget)} (its messages and arrays are too many for its size; ${format.advice})`,
    );
  }
}
