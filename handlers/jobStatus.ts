/** jobStatus: GET /jobs/{id} → {state, progress, result?, error?}. */
import { httpHandler } from '../src/http/handler.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { json, pathParam } from '../src/http/respond.js';

export const handler = httpHandler(async (event, { store, tenant }) => json(200, await getJobClient().status(pathParam(event, 'id') ?? '', store, tenant)));
