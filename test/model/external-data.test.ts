/**
 * ONNX "external data": a tensor whose bytes live in a file the model names. onnxruntime reads such a file relative to
 * the process's working directory, so a tenant's uploaded model could name a server file (code, configuration) and
 * get its bytes back through the scores (reproduced in review: predict scores rebuilt a .env file byte for byte).
 * Such models are refused wherever a model is read, before onnxruntime sees them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import { InputError, ModelError } from '../../src/core/errors.js';
import { describeModel, inputSpec } from '../../src/model/graph.js';
import { createSession } from '../../src/model/session.js';
import { putModel } from '../../src/service/datasets.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { REPO } from '../helpers/paths.js';

const { onnx } = onnxProto;
const external = (name: string) => ({ name, dims: [4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'secret.bin' }, { key: 'length', value: '16' }] });
const io = {
  input: [{ name: 'input', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }, { dimValue: 32 }, { dimValue: 32 }] } } } }],
  output: [{ name: 'out', type: { tensorType: { elemType: 1 } } }],
};
const encode = (graph: object): Uint8Array => onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'g', ...io, ...graph } })).finish();

/** The same harmless graph (out = input + W), with W's data in a file, in a Constant's attribute, or in an If branch. */
const MODELS: Record<string, Uint8Array> = {
  initializer: encode({ initializer: [external('W')], node: [{ opType: 'Add', input: ['input', 'W'], output: ['out'] }] }),
  'Constant attribute': encode({ node: [{ opType: 'Constant', output: ['W'], attribute: [{ name: 'value', type: 4, t: external('W') }] }, { opType: 'Add', input: ['input', 'W'], output: ['out'] }] }),
  'If subgraph': encode({
    initializer: [{ name: 'cond', dims: [], dataType: 9, int32Data: [1] }],
    node: [
      {
        opType: 'If',
        input: ['cond'],
        output: ['out'],
        attribute: [
          { name: 'then_branch', type: 5, g: { name: 't', initializer: [external('W2')], node: [{ opType: 'Identity', input: ['W2'], output: ['o1'] }], output: [{ name: 'o1', type: { tensorType: { elemType: 1 } } }] } },
          { name: 'else_branch', type: 5, g: { name: 'e', node: [{ opType: 'Identity', input: ['input'], output: ['o2'] }], output: [{ name: 'o2', type: { tensorType: { elemType: 1 } } }] } },
        ],
      },
    ],
  }),
};

describe('models with external data are refused before onnxruntime reads a file', () => {
  const cwd = process.cwd();
  const dir = mkdtempSync(join(tmpdir(), 'imagedrift-extdata-'));
  writeFileSync(join(dir, 'secret.bin'), 'AWS_SECRET=hunter2');
  process.chdir(dir); // the file the models name exists in the working directory, as on an attacked server
  after(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [where, bytes] of Object.entries(MODELS)) {
    it(`${where}: graph inspection, session creation and upload all refuse it, naming the reason`, async () => {
      const isRefusal = (e: unknown) => e instanceof ModelError && e.field === 'model' && /keeps its data in an external file; only self-contained ONNX models are accepted/.test(e.message);
      assert.throws(() => inputSpec(bytes), isRefusal);
      assert.throws(() => describeModel(bytes), isRefusal);
      await assert.rejects(createSession(bytes), isRefusal);
      const store = new LocalDirStore(join(dir, `store-${where.replace(/\W/g, '')}`));
      await assert.rejects(putModel(store, { id: 'evil', bytes }), (e: unknown) => e instanceof InputError && e.field === 'model' && /external file/.test(e.message));
      assert.deepEqual(await store.list(''), [], 'nothing written');
    });
  }

  it('the converted LeNet5 (self-contained) is accepted', async () => {
    const lenet = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
    assert.equal(inputSpec(lenet).channels, 1);
    const { session } = await createSession(lenet);
    await session.release();
  });
});
