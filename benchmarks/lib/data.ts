/**
 * The benchmark's inputs: the seed example (workload a) and MNIST / CIFAR-10 (workload b), decoded, preprocessed to
 * the model's input, and their layer features exported to .npy for the Python reference.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPreprocess, toModelInput } from '../../src/core/preprocess.js';
import type { DecodedArray, Matrix } from '../../src/core/tensor.js';
import { decodeCifarBin } from '../../src/io/cifar.js';
import { decodeIdx } from '../../src/io/idx.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { layerFeatures } from '../../src/service/extractor-cache.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const MODEL_PATH = join(REPO, 'models/lenet5.onnx');
export const PATHS = {
  seedTrain: join(SHARED, 'seed-example/concept_train_lenet.npy'),
  seedEval: join(SHARED, 'seed-example/concept_test_lenet1.npy'),
  seedTest: join(SHARED, 'seed-example/concept_test_lenet2.npy'),
  mnistTrain: join(SHARED, 'datasets/mnist/train-images-idx3-ubyte.gz'),
  mnistTest: join(SHARED, 'datasets/mnist/t10k-images-idx3-ubyte.gz'),
  cifarTrain1: join(SHARED, 'datasets/cifar-10/data_batch_1.bin'),
  cifarTest: join(SHARED, 'datasets/cifar-10/test_batch.bin'),
} as const;

export const LAYER = 'output';
export const N_CLUSTER = 10;
export const PREPROCESS = defaultPreprocess({ channels: 1, height: 32, width: 32 });

export function readBytes(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function model(): Uint8Array {
  return readBytes(MODEL_PATH);
}

export function labels(nId: number, nOod: number): Uint8Array {
  return new Uint8Array(nId + nOod).fill(1, nId);
}

/** Rows [from, to) of a decoded N×… array (a view, no copy). */
export function sliceRows(a: DecodedArray, from: number, to: number): DecodedArray {
  const per = a.data.length / a.shape[0]!;
  return { ...a, data: a.data.subarray(from * per, to * per), shape: [to - from, ...a.shape.slice(1)], ...(a.labels ? { labels: a.labels.subarray(from, to) } : {}) };
}

/** Preprocesses each part to the model's NCHW input and stacks them (as a float32 "decoded" array in [0,1]). */
function stackModelInputs(parts: readonly DecodedArray[]): DecodedArray {
  const inputs = parts.map((p) => toModelInput(p, PREPROCESS));
  const n = inputs.reduce((a, t) => a + t.shape[0]!, 0);
  const data = new Float32Array(inputs.reduce((a, t) => a + t.data.length, 0));
  let o = 0;
  for (const t of inputs) {
    data.set(t.data, o);
    o += t.data.length;
  }
  return { data, shape: [n, ...inputs[0]!.shape.slice(1)], dtype: 'float32' };
}

export interface Workload {
  readonly name: 'a' | 'b';
  readonly title: string;
  /** Decoded data as imagedrift receives it (fit: raw decoded; calibrate/predict: stacked model inputs when mixed). */
  readonly train: DecodedArray;
  readonly eval: DecodedArray;
  readonly evalLabels: Uint8Array;
  readonly test: DecodedArray;
  readonly testLabels: Uint8Array;
}

export function workloadA(): Workload {
  const npy = (p: string) => decodeNpy(readBytes(p));
  return {
    name: 'a',
    title: 'seed example: fit 1000, calibrate 100 (50 ID + 50 OOD), predict 400 (200 + 200)',
    train: npy(PATHS.seedTrain),
    eval: npy(PATHS.seedEval),
    evalLabels: labels(50, 50),
    test: npy(PATHS.seedTest),
    testLabels: labels(200, 200),
  };
}

/**
 * MNIST scale: fit on the 60k MNIST train images; calibrate on 1k MNIST (the last 1000 train images — MNIST has no
 * third split, so these are also in the fit set) + 1k CIFAR-10 (first 1000 of data_batch_1, grey); predict on the 10k
 * MNIST test + 10k CIFAR-10 test images (grey).
 */
export function workloadB(): Workload {
  const mnTrain = decodeIdx(readBytes(PATHS.mnistTrain));
  const mnTest = decodeIdx(readBytes(PATHS.mnistTest));
  const cTrain = decodeCifarBin(readBytes(PATHS.cifarTrain1));
  const cTest = decodeCifarBin(readBytes(PATHS.cifarTest));
  return {
    name: 'b',
    title: 'MNIST scale: fit 60k MNIST train; calibrate 1k MNIST + 1k CIFAR-10; predict 10k MNIST test + 10k CIFAR-10 test',
    train: mnTrain,
    eval: stackModelInputs([sliceRows(mnTrain, 59000, 60000), sliceRows(cTrain, 0, 1000)]),
    evalLabels: labels(1000, 1000),
    test: stackModelInputs([mnTest, cTest]),
    testLabels: labels(10000, 10000),
  };
}

export interface Features {
  readonly train: Matrix;
  readonly eval: Matrix;
  readonly test: Matrix;
}

export async function extractFeatures(w: Workload, modelBytes: Uint8Array, layer = LAYER): Promise<Features> {
  const f = (d: DecodedArray): Promise<Matrix> => layerFeatures(modelBytes, layer, toModelInput(d, PREPROCESS));
  return { train: await f(w.train), eval: await f(w.eval), test: await f(w.test) };
}

export interface FeatureFiles {
  readonly train: string;
  readonly eval: string;
  readonly labels: string;
  readonly test: string;
}

export function writeMatrix(path: string, m: Matrix): string {
  writeFileSync(path, encodeNpy(m.data, [m.rows, m.cols], 'float32'));
  return path;
}

/** Writes the features and eval labels as .npy into `dir` (prefix `w<name>-`). */
export function exportFeatures(dir: string, w: Workload, f: Features, tag = ''): FeatureFiles {
  const p = (s: string) => join(dir, `w${w.name}${tag}-${s}.npy`);
  writeFileSync(p('labels'), encodeNpy(w.evalLabels, [w.evalLabels.length], 'uint8'));
  return { train: writeMatrix(p('train'), f.train), eval: writeMatrix(p('eval'), f.eval), labels: p('labels'), test: writeMatrix(p('test'), f.test) };
}
