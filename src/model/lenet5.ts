/**
 * MindSpore LeNet5 checkpoint -> ONNX, for MindArmour's `lenet5_net_for_fuzzing.py`:
 *
 *   input [N,1,32,32] -> conv1 (6,5×5, valid, no bias) -> ReLU -> MaxPool 2/2
 *                     -> conv2 (16,5×5, valid, no bias) -> ReLU -> MaxPool 2/2 -> Flatten (400)
 *                     -> fc1 `8` -> ReLU `9` -> fc2 `10` -> ReLU `11` -> fc3 `output` (10 logits)
 *
 * Intermediate tensors are named `1`…`11` like MindSpore's own ONNX export, so the tutorial's layer names
 * (`8`, `9`, `10`, `11`, `output`) address the same activations.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { ModelError } from '../core/errors.js';
import { sha256Hex } from '../hash.js';
import { readCheckpoint, type CheckpointTensor } from './ckpt.js';

const { onnx } = onnxProto;

export const LENET5_CONVERTER = 'imagedrift/lenet5 (MindSpore ckpt -> ONNX)';

/** Weight tags the network needs, with their expected dims. */
const LENET5_WEIGHTS: Readonly<Record<string, readonly number[]>> = {
  'conv1.weight': [6, 1, 5, 5],
  'conv2.weight': [16, 6, 5, 5],
  'fc1.weight': [120, 400],
  'fc1.bias': [120],
  'fc2.weight': [84, 120],
  'fc2.bias': [84],
  'fc3.weight': [10, 84],
  'fc3.bias': [10],
};

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

function ints(name: string, v: number[]): Onnx.IAttributeProto {
  return { name, type: A.INTS, ints: v };
}
function int(name: string, v: number): Onnx.IAttributeProto {
  return { name, type: A.INT, i: v };
}

function valueInfo(name: string, dims: (number | string)[]): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function initializer(name: string, t: CheckpointTensor): Onnx.ITensorProto {
  const raw = new Uint8Array(t.data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i]!, true);
  return { name, dims: t.dims, dataType: FLOAT, rawData: raw };
}

function checkWeights(weights: ReadonlyMap<string, CheckpointTensor>): void {
  for (const [tag, dims] of Object.entries(LENET5_WEIGHTS)) {
    const t = weights.get(tag);
    if (!t) throw new ModelError(tag, `weight missing from the checkpoint (LeNet5 needs ${Object.keys(LENET5_WEIGHTS).join(', ')})`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw new ModelError(tag, `has dims [${t.dims.join(',')}], LeNet5 expects [${dims.join(',')}]`);
    }
    if (t.data.length !== dims.reduce((a, b) => a * b, 1)) throw new ModelError(tag, `data length ${t.data.length} does not match dims`);
  }
}

/**
 * Writes the ONNX model (opset 13, IR version 8) for the given LeNet5 weights.
 * `metadata` is stored as `metadata_props` (provenance: source checksum, converter).
 */
export function buildLenet5Onnx(weights: ReadonlyMap<string, CheckpointTensor>, metadata: Record<string, string> = {}): Uint8Array {
  checkWeights(weights);
  const w = (tag: string): CheckpointTensor => weights.get(tag)!;
  const conv = (x: string, wt: string, y: string): Onnx.INodeProto => ({
    opType: 'Conv',
    name: wt.replace('.weight', ''),
    input: [x, wt],
    output: [y],
    attribute: [ints('kernel_shape', [5, 5]), ints('strides', [1, 1]), ints('pads', [0, 0, 0, 0]), ints('dilations', [1, 1]), int('group', 1)],
  });
  const relu = (x: string, y: string): Onnx.INodeProto => ({ opType: 'Relu', name: `relu_${y}`, input: [x], output: [y] });
  const pool = (x: string, y: string): Onnx.INodeProto => ({
    opType: 'MaxPool',
    name: `pool_${y}`,
    input: [x],
    output: [y],
    attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), ints('pads', [0, 0, 0, 0])],
  });
  const gemm = (x: string, layer: string, y: string): Onnx.INodeProto => ({
    opType: 'Gemm',
    name: layer,
    input: [x, `${layer}.weight`, `${layer}.bias`],
    output: [y],
    attribute: [int('transB', 1)],
  });

  const graph: Onnx.IGraphProto = {
    name: 'lenet5_net_for_fuzzing',
    node: [
      conv('input', 'conv1.weight', '1'),
      relu('1', '2'),
      pool('2', '3'),
      conv('3', 'conv2.weight', '4'),
      relu('4', '5'),
      pool('5', '6'),
      { opType: 'Flatten', name: 'flatten', input: ['6'], output: ['7'], attribute: [int('axis', 1)] },
      gemm('7', 'fc1', '8'),
      relu('8', '9'),
      gemm('9', 'fc2', '10'),
      relu('10', '11'),
      gemm('11', 'fc3', 'output'),
    ],
    initializer: Object.keys(LENET5_WEIGHTS).map((tag) => initializer(tag, w(tag))),
    input: [valueInfo('input', ['N', 1, 32, 32])],
    output: [valueInfo('output', ['N', 10])],
    valueInfo: [
      valueInfo('1', ['N', 6, 28, 28]),
      valueInfo('2', ['N', 6, 28, 28]),
      valueInfo('3', ['N', 6, 14, 14]),
      valueInfo('4', ['N', 16, 10, 10]),
      valueInfo('5', ['N', 16, 10, 10]),
      valueInfo('6', ['N', 16, 5, 5]),
      valueInfo('7', ['N', 400]),
      valueInfo('8', ['N', 120]),
      valueInfo('9', ['N', 120]),
      valueInfo('10', ['N', 84]),
      valueInfo('11', ['N', 84]),
    ],
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'imagedrift',
    graph,
    metadataProps: Object.entries({ converter: LENET5_CONVERTER, architecture: 'MindArmour lenet5_net_for_fuzzing.py', ...metadata }).map(
      ([key, value]) => ({ key, value }),
    ),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Reads a MindSpore LeNet5 checkpoint and returns the ONNX model bytes, stamped with the checkpoint's sha256. */
export function convertCheckpoint(ckptBytes: Uint8Array, opts: { source?: string } = {}): Uint8Array {
  const weights = readCheckpoint(ckptBytes);
  const sha256 = sha256Hex(ckptBytes);
  return buildLenet5Onnx(weights, { source_sha256: sha256, ...(opts.source ? { source: opts.source } : {}) });
}
