import assert from 'node:assert/strict';
import { InputError } from '../../src/core/errors.js';

function check(e: unknown, field: string, patterns: readonly RegExp[]): true {
  assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
  assert.equal(e.field, field);
  for (const p of patterns) assert.match(e.message, p);
  return true;
}

/** Asserts that `fn` throws an InputError on `field` whose message matches every pattern. */
export function throwsInput(fn: () => unknown, field: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => check(e, field, patterns));
}

/** Async variant of {@link throwsInput}. */
export async function rejectsInput(p: Promise<unknown>, field: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => check(e, field, patterns));
}
