/**
 * Distinct model files that compute the same thing: the seed LeNet5 with another ONNX `doc_string`, so each has its own
 * sha256 (cache keys, stored model keys) while its tensors, features and scores are the model's.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** `model` with doc_string "variant <i>": different bytes (and sha256) for each i, the same graph and weights. */
export function modelVariant(model: Uint8Array, i: number): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  m.docString = `variant ${i}`;
  return onnx.ModelProto.encode(m).finish();
}
