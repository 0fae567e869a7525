/**
 * describe: GET /detectors/{id}[?version=<n>] → 200, the version's description (detectorDescriptionSchema: model,
 * layer, preprocessing, detector parameters, calibration; no array values); GET /detectors[?limit=<n>&after=<id>] →
 * 200 {detectors: [{id, currentVersion}], next?}. Read-only: manifests and pointers.
 */
import { httpHandler } from '../src/http/handler.js';
import { withPathDetector } from '../src/http/messages.js';
import { json, parseWith, pathParam } from '../src/http/respond.js';
import { describeMessageSchema, listDetectorsMessageSchema } from '../src/schemas.js';
import { describeStoredDetector, listDetectors } from '../src/service/describe.js';

export const handler = httpHandler(async (event, { store }) => {
  const query = { ...(event.queryStringParameters ?? {}) };
  if (pathParam(event, 'id') === undefined) return json(200, await listDetectors(store, parseWith(listDetectorsMessageSchema, query)));
  return json(200, await describeStoredDetector(store, parseWith(describeMessageSchema, withPathDetector(event, query))));
});
