/** docs/openapi.json is the generator's output (src/http/openapi.ts), and the generator says what the handlers accept. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { openApiDocument } from '../../src/http/openapi.js';
import { OPENAPI_PATH, openApiText } from '../../scripts/openapi.js';

type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
const doc = openApiDocument() as Doc;
const jsonBody = (path: string, method = 'post') => doc.paths[path]![method].requestBody.content['application/json'].schema;

test('docs/openapi.json is what the generator produces from the schemas now', async () => {
  const committed = await readFile(OPENAPI_PATH, 'utf8');
  // Not deepEqual on the objects: its diff of a 90 KB document is unreadable; the message says what to do.
  assert.ok(committed === openApiText(), 'docs/openapi.json is out of date with src/schemas.ts / src/http/openapi.ts: run `npm run openapi` (node --import tsx scripts/openapi.ts) and commit docs/openapi.json');
});

test('numbers that may come as strings are published in both accepted forms', () => {
  const limit = doc.paths['/detectors']!.get.parameters.find((p: { name: string }) => p.name === 'limit');
  assert.deepEqual(limit.schema, { anyOf: [{ type: 'integer', exclusiveMinimum: 0, maximum: 1000 }, { type: 'string', pattern: '^[0-9]+$' }] });
  const nCluster = jsonBody('/detectors/{id}/fit').properties.nCluster;
  assert.equal(nCluster.anyOf[0].type, 'integer');
  assert.deepEqual([nCluster.anyOf[0].minimum, nCluster.anyOf[0].maximum], [2, 100]);
  assert.equal(nCluster.anyOf[1].type, 'string');
  assert.ok(new RegExp(nCluster.anyOf[1].pattern).test(' 10 ') && !new RegExp(nCluster.anyOf[1].pattern).test('0x10'));
});

test('path-merged bodies: the detector comes from the path and is optional in the body; unknown fields are refused', () => {
  for (const op of ['fit', 'calibrate', 'predict']) {
    const s = jsonBody(`/detectors/{id}/${op}`);
    assert.ok(s.properties.detector, op);
    assert.ok(!s.required.includes('detector'), op);
    assert.equal(s.additionalProperties, false, op);
  }
  assert.deepEqual(jsonBody('/detectors/{id}/fit').required, ['model', 'dataset']);
});

test('security: every route needs an API key (x-api-key or bearer) but /health; every authenticated route documents 401', () => {
  const d = doc as Doc & { security: unknown; components: { securitySchemes: Record<string, unknown> } };
  assert.deepEqual(d.security, [{ apiKey: [] }, { bearer: [] }]);
  assert.deepEqual(d.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key (`imagedrift keygen`).' });
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (path === '/health') assert.deepEqual([op.security, Object.keys(op.responses)], [[], ['200']]);
      else assert.ok(op.security === undefined && op.responses['401'], `${method} ${path}`);
    }
  }
});

test('job status: one variant per state; a failed job has its error and no result, a finished one its result and no error', () => {
  const variants = doc.components.schemas.JobStatus.oneOf as { properties: Record<string, any>; required: string[] }[];
  const byState = Object.fromEntries(variants.map((v) => [v.properties.state.const ?? 'pending', v]));
  assert.deepEqual(Object.keys(byState).sort(), ['completed', 'failed', 'pending']);
  assert.ok(byState.completed!.required.includes('result') && !byState.completed!.properties.error);
  assert.ok(byState.failed!.required.includes('error') && !byState.failed!.properties.result);
  assert.ok(!byState.pending!.required.includes('error') && !byState.pending!.properties.result);
  const large = byState.completed!.properties.result.anyOf.find((s: { properties: Record<string, unknown> }) => 'resultKey' in s.properties && 'url' in s.properties);
  assert.deepEqual(large.required, ['resultKey', 'bytes', 'note']);
});
