/**
 * The routes docs/openapi.json describes are the routes serverless.yml deploys: the `httpApi` events of its functions,
 * as the Serverless Framework itself reads the file (`serverless print`, variables resolved), each served by the
 * function the document names (`x-function`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { openApiDocument } from '../../src/http/openapi.js';
import { REPO } from '../helpers/paths.js';
import { SLS_BIN, SLS_ENV } from '../helpers/serverless.js';

type Printed = { functions: Record<string, { events?: { httpApi?: string | { method: string; path: string } }[] }> };

test("docs/openapi.json's (method, path) pairs are serverless.yml's httpApi events, each on the function that serves it", async () => {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))), AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true', ...SLS_ENV };
  const { stdout } = await promisify(execFile)(process.execPath, [SLS_BIN, 'print', '--stage', 'local', '--format', 'json'], { cwd: REPO, env, maxBuffer: 16 * 1024 * 1024 });
  const printed = JSON.parse(stdout) as Printed;
  const deployed = new Map<string, string>();
  for (const [name, f] of Object.entries(printed.functions)) {
    for (const e of f.events ?? []) {
      if (e.httpApi === undefined) continue;
      const [method, path] = typeof e.httpApi === 'string' ? e.httpApi.split(' ') : [e.httpApi.method, e.httpApi.path];
      deployed.set(`${method!.toUpperCase()} ${path}`, name);
    }
  }
  assert.ok(deployed.size >= 11, `serverless print listed ${deployed.size} httpApi events`);
  const doc = openApiDocument() as { paths: Record<string, Record<string, { 'x-function': string }>> };
  const documented = new Map<string, string>();
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) documented.set(`${method.toUpperCase()} ${path}`, op['x-function']);
  const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => a.localeCompare(b));
  assert.deepEqual(sorted(documented), sorted(deployed), 'the routes of src/http/openapi.ts (ROUTES) and serverless.yml differ: change both, then run `npm run openapi`');
});
