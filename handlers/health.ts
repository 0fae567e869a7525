/** health: GET /health → 200 {status:"ok", version}. The one route without an API key (load balancers, uptime checks). */
import { json } from '../src/http/respond.js';
import type { Health } from '../src/schemas.js';
import { LIBRARY_VERSION } from '../src/version.js';

export const handler = async (): Promise<ReturnType<typeof json>> => json(200, { status: 'ok', version: LIBRARY_VERSION } satisfies Health);
