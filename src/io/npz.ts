/**
 * NumPy `.npz` archives: a zip (stored or deflated) of `.npy` members, as written by `np.savez`/`np.savez_compressed`.
 * An array's key is its member name without the `.npy` suffix (`x.npy` → `x`).
 *
 * The archive is read with the bounded zip reader in `zip.ts`: the members' declared sizes are checked against
 * `maxInflatedBytes` before anything is inflated, and no member inflates past its declared size.
 */
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { formatBytes, resolveLimits, type DecodeLimits } from './limits.js';
import { decodeNpy } from './npy.js';
import { checkZipSizes, listZipEntries, readZipEntry, type ZipEntry } from './zip.js';

function keyOf(member: string): string {
  return member.endsWith('.npy') ? member.slice(0, -4) : member;
}

function entriesOf(bytes: Uint8Array, field: string): ZipEntry[] {
  const entries = listZipEntries(bytes, (detail) => new InputError(field, `not a readable zip/.npz archive (${bytes.length} bytes): ${detail}`));
  // `x.npy` and `x` are both the array `x`: which one a key picks would depend on member order.
  const byKey = new Map<string, string>();
  for (const e of entries) {
    const key = keyOf(e.name);
    const other = byKey.get(key);
    if (other !== undefined) throw new InputError(`${field}[${key}]`, `members '${other}' and '${e.name}' are both the array '${key}'`);
    byKey.set(key, e.name);
  }
  return entries;
}

/** Inflates and decodes the given members. */
function decodeMembers(bytes: Uint8Array, entries: readonly ZipEntry[], field: string, lim: DecodeLimits): Record<string, DecodedArray> {
  checkZipSizes(entries, lim, (e) => `${field}[${keyOf(e.name)}]`, field);
  const out: Record<string, DecodedArray> = {};
  let decoded = 0;
  for (const e of entries) {
    const key = keyOf(e.name);
    const f = `${field}[${key}]`;
    const a = decodeNpy(readZipEntry(bytes, e, f), f, lim);
    // The limits hold per call: the arrays of one archive count together.
    decoded += a.data.byteLength;
    if (decoded > lim.maxDecodedBytes) throw new InputError(field, `the archive's arrays decode to more than maxDecodedBytes ${formatBytes(lim.maxDecodedBytes)} together`);
    // defineProperty: a member named `__proto__.npy` must be a key like any other, not the object's prototype.
    Object.defineProperty(out, key, { value: a, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Decodes every array in an `.npz` archive, keyed by member name without `.npy`. */
export function decodeNpz(bytes: Uint8Array, name?: undefined, field?: string, limits?: Partial<DecodeLimits>): Record<string, DecodedArray>;
/** Decodes the array `name` (with or without `.npy`); the error lists the available names when it is missing. */
export function decodeNpz(bytes: Uint8Array, name: string, field?: string, limits?: Partial<DecodeLimits>): DecodedArray;
export function decodeNpz(bytes: Uint8Array, name?: string, field?: string, limits?: Partial<DecodeLimits>): Record<string, DecodedArray> | DecodedArray;
export function decodeNpz(bytes: Uint8Array, name?: string, field = 'npz', limits?: Partial<DecodeLimits>): Record<string, DecodedArray> | DecodedArray {
  const lim = resolveLimits(limits);
  const entries = entriesOf(bytes, field);
  if (name === undefined) return decodeMembers(bytes, entries, field, lim);
  const key = keyOf(name);
  const member = entries.find((e) => keyOf(e.name) === key);
  if (member === undefined) {
    const keys = entries.map((e) => keyOf(e.name));
    throw new InputError(`${field}[${key}]`, `no array named '${key}' in the archive; available: ${keys.length ? keys.map((k) => `'${k}'`).join(', ') : '(none, the archive is empty)'}`);
  }
  return decodeMembers(bytes, [member], field, lim)[key]!;
}

/**
 * Picks one array from an `.npz`: the one named `key`, or the only array when the archive holds exactly one.
 * Without a key, an archive with several arrays is an error listing their names.
 */
export function loadArrayFromNpz(bytes: Uint8Array, key?: string, field = 'npz', limits?: Partial<DecodeLimits>): DecodedArray {
  if (key !== undefined) return decodeNpz(bytes, key, field, limits);
  const keys = entriesOf(bytes, field).map((e) => keyOf(e.name));
  if (keys.length === 1) return decodeNpz(bytes, keys[0]!, field, limits);
  if (keys.length === 0) throw new InputError(field, 'the archive holds no arrays');
  throw new InputError(`${field}.key`, `the archive holds ${keys.length} arrays (${keys.map((k) => `'${k}'`).join(', ')}); choose one with a key (npzKey)`);
}
