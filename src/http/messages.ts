import { InputError } from '../core/errors.js';
import type { HttpEvent } from './events.js';
import { pathParam } from './respond.js';

/** Merges the `{id}` path parameter into the body as `detector`, so one schema validates both. */
export function withPathDetector(event: HttpEvent, body: Record<string, unknown>): Record<string, unknown> {
  const id = pathParam(event, 'id');
  if (body.detector !== undefined && body.detector !== id) throw new InputError('detector', `body names detector ${JSON.stringify(body.detector)} but the path names ${JSON.stringify(id)}`);
  return { ...body, detector: id };
}
