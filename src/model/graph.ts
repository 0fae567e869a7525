/**
 * ONNX graph inspection and editing (onnx-proto): which tensors exist, exposing an intermediate tensor as an extra
 * graph output so onnxruntime returns it, and the image input the model expects.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { InputError, ModelError } from '../core/errors.js';
import type { Layout } from '../core/tensor.js';
import { assertDecodeBudget } from './onnx-budget.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** The image input of a model: its name, raw shape (numbers, or symbolic names such as `N`) and layout. */
export interface InputSpec {
  readonly name: string;
  readonly shape: (number | string)[];
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly layout: Layout;
}

/** Decodes ModelProto bytes; anything that is not a model with a graph is a ModelError on field `model`. */
function decodeModel(modelBytes: Uint8Array): Onnx.ModelProto {
  if (!(modelBytes instanceof Uint8Array) || modelBytes.length === 0) throw new ModelError('model', 'expected the ONNX model bytes, got nothing');
  assertDecodeBudget(modelBytes);
  let model: Onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(modelBytes);
  } catch (e) {
    throw new ModelError('model', `not an ONNX model, or truncated (${(e as Error).message}; file has ${modelBytes.length} bytes)`, { cause: e });
  }
  const g = model.graph;
  if (!g || !g.node || g.node.length === 0 || !g.output || g.output.length === 0) {
    throw new ModelError('model', `not an ONNX model: no graph with nodes and outputs (${modelBytes.length} bytes)`);
  }
  assertSelfContained(model);
  return model;
}

const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/**
 * Refuses a model whose tensors keep their data in external files (ONNX "external data"). onnxruntime would read such
 * a file from the process's working directory: a tenant's uploaded model could name a file of the server (its code,
 * its configuration) and get its bytes back through the features it scores. Every tensor is checked: initializers,
 * sparse initializers, node attributes, and the subgraphs and functions they hold.
 */
function assertSelfContained(model: Onnx.IModelProto): void {
  const refuse = (where: string): never => {
    throw new ModelError('model', `${where} keeps its data in an external file; only self-contained ONNX models are accepted (save the model without external data)`);
  };
  const tensor = (t: Onnx.ITensorProto | null | undefined, where: string): void => {
    if (t && (t.dataLocation === EXTERNAL || (t.externalData?.length ?? 0) > 0)) refuse(`${where} ${JSON.stringify(t.name ?? '')}`);
  };
  const sparse = (t: Onnx.ISparseTensorProto | null | undefined, where: string): void => {
    tensor(t?.values, `${where} (values)`);
    tensor(t?.indices, `${where} (indices)`);
  };
  const nodes = (list: readonly Onnx.INodeProto[] | null | undefined, depth: number): void => {
    for (const node of list ?? []) {
      for (const a of node.attribute ?? []) {
        const where = `attribute ${JSON.stringify(a.name ?? '')} of node ${JSON.stringify(node.name ?? node.opType ?? '')}`;
        tensor(a.t, where);
        for (const t of a.tensors ?? []) tensor(t, where);
        sparse(a.sparseTensor, where);
        for (const t of a.sparseTensors ?? []) sparse(t, where);
        if (a.g) graph(a.g, depth + 1);
        for (const sub of a.graphs ?? []) graph(sub, depth + 1);
      }
    }
  };
  const graph = (g: Onnx.IGraphProto, depth: number): void => {
    if (depth > 64) throw new ModelError('model', 'subgraphs nest more than 64 deep');
    for (const t of g.initializer ?? []) tensor(t, 'initializer');
    for (const t of g.sparseInitializer ?? []) sparse(t, 'sparse initializer');
    nodes(g.node, depth);
  };
  graph(model.graph!, 0);
  for (const f of model.functions ?? []) nodes(f.node, 1);
  for (const t of model.trainingInfo ?? []) {
    if (t.initialization) graph(t.initialization, 1);
    if (t.algorithm) graph(t.algorithm, 1);
  }
}

/** Checks that the bytes are an ONNX model with no external data (the session's last check before onnxruntime). */
export function assertModelSelfContained(modelBytes: Uint8Array): void {
  decodeModel(modelBytes);
}

function graphOf(model: Onnx.ModelProto): Onnx.IGraphProto {
  return model.graph!;
}

function initializerNames(g: Onnx.IGraphProto): Set<string> {
  return new Set((g.initializer ?? []).map((t) => t.name ?? ''));
}

function tensorNames(g: Onnx.IGraphProto): string[] {
  const inits = initializerNames(g);
  const names: string[] = [];
  const seen = new Set<string>();
  const add = (n: string | null | undefined): void => {
    if (n && !inits.has(n) && !seen.has(n)) {
      seen.add(n);
      names.push(n);
    }
  };
  for (const i of g.input ?? []) add(i.name);
  for (const node of g.node ?? []) for (const o of node.output ?? []) add(o);
  return names;
}

/** Names of the graph inputs and of every node output, in graph order. Initializers (weights) are left out. */
export function listTensorNames(modelBytes: Uint8Array): string[] {
  return tensorNames(graphOf(decodeModel(modelBytes)));
}

/**
 * Normalizes a layer name. Accepts MindArmour's spelling `'output[:Tensor]'` (and `'output:Tensor'`) as well as the
 * bare tensor name `'output'`.
 */
export function parseLayerName(layer: string): string {
  if (typeof layer !== 'string') throw new InputError('layer', `must be a tensor name string, got ${typeof layer}`);
  const name = layer.trim().replace(/(\[:Tensor\]|:Tensor)$/, '').trim();
  if (name === '') throw new InputError('layer', `must name a tensor, got ${JSON.stringify(layer)}`);
  return name;
}

/** A detector reading several layers (ensemble) records them joined with `+`, e.g. `output+9+8`. */
export const LAYER_SEPARATOR = '+';

/** The layers a bundle's `model.layer` names, in order. */
export function splitLayers(layer: string): string[] {
  return layer.split(LAYER_SEPARATOR).map(parseLayerName);
}

function unknownLayer(layer: string, available: string[]): InputError {
  return new InputError('layer', `no tensor named ${JSON.stringify(layer)} in the model; available: ${available.join(', ')}`);
}

/**
 * Returns a copy of the model in which each named tensor is also a graph output. Tensors that already are outputs are
 * left alone. The output's type comes from `value_info` when the model has it, otherwise float32 with unknown shape.
 */
export function exposeOutputs(modelBytes: Uint8Array, names: string[]): Uint8Array {
  const model = decodeModel(modelBytes);
  const g = graphOf(model);
  const available = tensorNames(g);
  const wanted = names.map(parseLayerName);
  for (const n of wanted) if (!available.includes(n)) throw unknownLayer(n, available);

  const outputs = g.output ?? [];
  const isOutput = new Set(outputs.map((o) => o.name ?? ''));
  const inputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  let changed = false;
  for (const n of wanted) {
    if (isOutput.has(n)) continue;
    const info = (g.valueInfo ?? []).find((v) => v.name === n && v.type?.tensorType);
    const inputInfo = inputs.has(n) ? (g.input ?? []).find((i) => i.name === n) : undefined;
    outputs.push(info ?? inputInfo ?? { name: n, type: { tensorType: { elemType: FLOAT } } });
    if (info) g.valueInfo = (g.valueInfo ?? []).filter((v) => v !== info);
    isOutput.add(n);
    changed = true;
  }
  if (!changed) return modelBytes;
  g.output = outputs;
  return onnx.ModelProto.encode(model).finish();
}

function dimOf(d: Onnx.TensorShapeProto.IDimension): number | string {
  if (d.dimValue !== undefined && d.dimValue !== null && (d.dimParam ?? '') === '') {
    const n = Number(String(d.dimValue));
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return d.dimParam || '?';
}

/** The first graph input that is not an initializer, with its channels/height/width and layout (NCHW or NHWC). */
export function inputSpec(modelBytes: Uint8Array): InputSpec {
  return inputSpecOf(graphOf(decodeModel(modelBytes)));
}

/** Input spec and tensor names from one decode (a decode costs many times the model's size in memory). */
export function describeModel(modelBytes: Uint8Array): { inputSpec: InputSpec; tensorNames: string[] } {
  const g = graphOf(decodeModel(modelBytes));
  return { inputSpec: inputSpecOf(g), tensorNames: tensorNames(g) };
}

function inputSpecOf(g: Onnx.IGraphProto): InputSpec {
  const inits = initializerNames(g);
  const input = (g.input ?? []).find((i) => i.name && !inits.has(i.name));
  if (!input) throw new ModelError('model.input', 'the graph has no input');
  const name = input.name!;
  const tt = input.type?.tensorType;
  if (!tt) throw new ModelError('model.input', `input ${JSON.stringify(name)} is not a tensor`);
  if (tt.elemType !== FLOAT) throw new ModelError('model.input', `input ${JSON.stringify(name)} has element type ${tt.elemType}; only float32 image inputs are supported`);
  const shape = (tt.shape?.dim ?? []).map(dimOf);
  const at = (i: number): number => (typeof shape[i] === 'number' ? (shape[i] as number) : -1);
  const describe = `input ${JSON.stringify(name)} has shape [${shape.join(',')}]`;
  if (shape.length !== 4) throw new ModelError('model.input', `${describe}; expected a rank-4 image batch (NCHW or NHWC)`);
  const ch = new Set([1, 3, 4]);
  if (ch.has(at(1)) && at(2) > 4 && at(3) > 4) return { name, shape, channels: at(1), height: at(2), width: at(3), layout: 'NCHW' };
  if (ch.has(at(3)) && at(1) > 4 && at(2) > 4) return { name, shape, channels: at(3), height: at(1), width: at(2), layout: 'NHWC' };
  throw new ModelError('model.input', `${describe}; cannot tell NCHW from NHWC (need 1, 3 or 4 channels and fixed height and width > 4)`);
}

/** Names of the graph outputs, in order (for a classifier, the first one is usually the logits). */
export function outputNames(modelBytes: Uint8Array): string[] {
  return (graphOf(decodeModel(modelBytes)).output ?? []).map((o) => o.name ?? '').filter((n) => n !== '');
}

/** Checks that every named layer is a tensor of the model (InputError on `layer`, listing the available names). */
export function checkLayers(modelBytes: Uint8Array, layers: readonly string[]): void {
  const available = listTensorNames(modelBytes);
  for (const l of layers) {
    const n = parseLayerName(l);
    if (!available.includes(n)) throw unknownLayer(n, available);
  }
}

/**
 * Checks an ensemble's member layers, each named by its member (`members[1].layer`), not as the whole list: the one
 * rule for a fit request (src/service/fit-request.ts) and a fit (src/service/detector-service.ts).
 */
export function checkMemberLayers(modelBytes: Uint8Array, members: readonly { readonly layer: string }[]): void {
  members.forEach((m, i) => {
    try {
      checkLayers(modelBytes, [m.layer]);
    } catch (e) {
      throw e instanceof InputError ? new InputError(`members[${i}].layer`, e.detail, { cause: e }) : e;
    }
  });
}
