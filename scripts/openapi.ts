/** Writes docs/openapi.json, the OpenAPI 3.1 description of the HTTP API (src/http/openapi.ts): `npm run openapi`. */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../src/http/openapi.js';

/** The committed document's text: what test/http/openapi.test.ts compares with the generator's output. */
export const OPENAPI_PATH = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));
export const openApiText = (): string => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(OPENAPI_PATH, openApiText());
  console.log(`wrote ${OPENAPI_PATH}`);
}
