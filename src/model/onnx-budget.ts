/**
 * The ONNX format for the decode budget (src/model/decode-budget.ts): onnx-proto 8.0.1's schema (ONNX 1.10.2), for each
 * message every field its generated decoder knows, with its wire type, its message type or its packed element type. A
 * test compares it with the installed decoder, field by field.
 */
import { assertProtoBudget, decodeBudget, estimateProtoDecode, type Field, type Packed, type ProtoFormat, type ProtoSchema } from './decode-budget.js';

const m = (msg: string): Field => ({ msg });
/** A repeated message field. */
const mr = (msg: string): Field => ({ msg, repeated: true });
const p = (packed: Packed): Field => ({ packed });
const V32: Field = { scalar: 'varint32' };
const V64: Field = { scalar: 'varint64' };
const LEN: Field = { scalar: 'len' };
/** A repeated string or bytes field. */
const LENR: Field = { scalar: 'len', repeated: true };
const F32: Field = { scalar: 'fixed32' };

/** Every field of each ONNX message, by field number. */
export const ONNX_SCHEMA: ProtoSchema = {
  ModelProto: { 1: V64, 2: LEN, 3: LEN, 4: LEN, 5: V64, 6: LEN, 7: m('GraphProto'), 8: mr('OperatorSetIdProto'), 14: mr('StringStringEntryProto'), 20: mr('TrainingInfoProto'), 25: mr('FunctionProto') },
  GraphProto: {
    1: mr('NodeProto'),
    2: LEN,
    5: mr('TensorProto'),
    10: LEN,
    11: mr('ValueInfoProto'),
    12: mr('ValueInfoProto'),
    13: mr('ValueInfoProto'),
    14: mr('TensorAnnotation'),
    15: mr('SparseTensorProto'),
  },
  NodeProto: { 1: LENR, 2: LENR, 3: LEN, 4: LEN, 5: mr('AttributeProto'), 6: LEN, 7: LEN },
  AttributeProto: {
    1: LEN,
    2: F32,
    3: V64,
    4: LEN,
    5: m('TensorProto'),
    6: m('GraphProto'),
    7: p('float'),
    8: p('int64'),
    9: LENR,
    10: mr('TensorProto'),
    11: mr('GraphProto'),
    13: LEN,
    14: m('TypeProto'),
    15: mr('TypeProto'),
    20: V32,
    21: LEN,
    22: m('SparseTensorProto'),
    23: mr('SparseTensorProto'),
  },
  TensorProto: {
    1: p('int64'),
    2: V32,
    3: m('TensorProto.Segment'),
    4: p('float'),
    5: p('int32'),
    6: LENR,
    7: p('int64'),
    8: LEN,
    9: LEN,
    10: p('double'),
    11: p('uint64'),
    12: LEN,
    13: mr('StringStringEntryProto'),
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
  TensorShapeProto: { 1: mr('TensorShapeProto.Dimension') },
  'TensorShapeProto.Dimension': { 1: V64, 2: LEN, 3: LEN },
  TensorAnnotation: { 1: LEN, 2: mr('StringStringEntryProto') },
  TrainingInfoProto: { 1: m('GraphProto'), 2: m('GraphProto'), 3: mr('StringStringEntryProto'), 4: mr('StringStringEntryProto') },
  FunctionProto: { 1: LEN, 4: LENR, 5: LENR, 6: LENR, 7: mr('NodeProto'), 8: LEN, 9: mr('OperatorSetIdProto'), 10: LEN },
  OperatorSetIdProto: { 1: LEN, 2: V64 },
  StringStringEntryProto: { 1: LEN, 2: LEN },
};


const ONNX_FORMAT: ProtoFormat = {
  schema: ONNX_SCHEMA,
  root: 'ModelProto',
  field: 'model',
  noun: 'an ONNX model',
  advice: 'real models keep weights in raw_data',
};

/** Estimates what decoding `bytes` as an ONNX ModelProto would allocate (see {@link estimateProtoDecode}). */
export function estimateDecodeBytes(bytes: Uint8Array, budget = Infinity): number {
  return estimateProtoDecode(bytes, ONNX_FORMAT, budget);
}

/** Refuses, before decoding, a model whose decoding would allocate more than the budget (ModelError on `model`). */
export function assertDecodeBudget(bytes: Uint8Array, budget = decodeBudget(bytes.length)): void {
  assertProtoBudget(bytes, ONNX_FORMAT, budget);
}
