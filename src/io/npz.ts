/**
 * NumPy `.npz` archives: a zip (stored or deflated) of `.npy` members, as written by `np.savez`/`np.savez_compressed`.
 * An array's key is its member name without the `.npy` suffix (`x.npy` → `x`).
 */
import { unzipSync } from 'fflate';
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { decodeNpy } from './npy.js';

function keyOf(member: string): string {
  return member.endsWith('.npy') ? member.slice(0, -4) : member;
}

/** Unzips only the members whose key passes `wanted`; `keys` lists every member's key in archive order. */
function unzipFiltered(bytes: Uint8Array, field: string, wanted: (key: string) => boolean): { keys: string[]; files: Record<string, Uint8Array> } {
  const keys: string[] = [];
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        if (f.name.endsWith('/')) return false; // directory entries
        const key = keyOf(f.name);
        keys.push(key);
        return wanted(key);
      },
    });
  } catch (e) {
    throw new InputError(field, `not a readable zip/.npz archive (${bytes.length} bytes): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return { keys, files };
}

/** Decodes every array in an `.npz` archive, keyed by member name without `.npy`. */
export function decodeNpz(bytes: Uint8Array, name?: undefined, field?: string): Record<string, DecodedArray>;
/** Decodes the array `name` (with or without `.npy`); the error lists the available names when it is missing. */
export function decodeNpz(bytes: Uint8Array, name: string, field?: string): DecodedArray;
export function decodeNpz(bytes: Uint8Array, name?: string, field?: string): Record<string, DecodedArray> | DecodedArray;
export function decodeNpz(bytes: Uint8Array, name?: string, field = 'npz'): Record<string, DecodedArray> | DecodedArray {
  if (name === undefined) {
    const { files } = unzipFiltered(bytes, field, () => true);
    const out: Record<string, DecodedArray> = {};
    for (const [member, data] of Object.entries(files)) {
      const key = keyOf(member);
      out[key] = decodeNpy(data, `${field}[${key}]`);
    }
    return out;
  }
  const key = keyOf(name);
  const { keys, files } = unzipFiltered(bytes, field, (k) => k === key);
  const member = Object.keys(files).find((m) => keyOf(m) === key);
  if (member === undefined) {
    throw new InputError(`${field}[${key}]`, `no array named '${key}' in the archive; available: ${keys.length ? keys.map((k) => `'${k}'`).join(', ') : '(none, the archive is empty)'}`);
  }
  return decodeNpy(files[member]!, `${field}[${key}]`);
}

/**
 * Picks one array from an `.npz`: the one named `key`, or the only array when the archive holds exactly one.
 * Without a key, an archive with several arrays is an error listing their names.
 */
export function loadArrayFromNpz(bytes: Uint8Array, key?: string, field = 'npz'): DecodedArray {
  if (key !== undefined) return decodeNpz(bytes, key, field);
  const { keys } = unzipFiltered(bytes, field, () => false);
  if (keys.length === 1) return decodeNpz(bytes, keys[0]!, field);
  if (keys.length === 0) throw new InputError(field, 'the archive holds no arrays');
  throw new InputError(`${field}.key`, `the archive holds ${keys.length} arrays (${keys.map((k) => `'${k}'`).join(', ')}); choose one with a key (npzKey)`);
}
