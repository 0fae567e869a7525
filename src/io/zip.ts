/**
 * A minimal, bounded zip reader for `.npz` archives (stored and deflated members, zip64 sizes).
 *
 * Why not fflate's `unzipSync`: it allocates each member's output at the size the central directory declares
 * (a forged 4 GiB entry is a 4 GiB allocation), keeps inflating a member that is larger than declared, and trusts the
 * zip64 entry count (a forged count of 2^32 loops for minutes). Here every declared number is checked against the
 * archive's own length and the decode limits before anything is allocated, and deflated members are inflated by
 * node:zlib with `maxOutputLength` equal to the declared size, so a member that inflates to more stops at once.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { InputError } from '../core/errors.js';
import { formatBytes, type DecodeLimits } from './limits.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated. */
  readonly method: number;
  readonly compressedSize: number;
  /** The uncompressed size the central directory declares (checked against the inflated data). */
  readonly size: number;
  /** Offset of the member's data (after its local header). */
  readonly dataOffset: number;
  /** The CRC-32 of the uncompressed bytes the central directory declares (checked after reading). */
  readonly crc: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const CENTRAL_HEADER = 46;
const LOCAL_HEADER = 30;

class Reader {
  private readonly dv: DataView;
  constructor(readonly bytes: Uint8Array, private readonly fail: (detail: string) => InputError) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(at: number, n: number, what: string): void {
    if (!(at >= 0 && at + n <= this.bytes.length)) throw this.fail(`${what} at byte ${at} runs past the end of the archive`);
  }
  u16(at: number, what: string): number { this.need(at, 2, what); return this.dv.getUint16(at, true); }
  u32(at: number, what: string): number { this.need(at, 4, what); return this.dv.getUint32(at, true); }
  /** A 64-bit size or offset; values past 2^53 cannot be a position in a Uint8Array anyway. */
  u64(at: number, what: string): number {
    this.need(at, 8, what);
    const v = this.dv.getUint32(at, true) + this.dv.getUint32(at + 4, true) * 2 ** 32;
    return v;
  }
}

function findEocd(bytes: Uint8Array, r: Reader): number {
  const last = bytes.length - 22;
  const first = Math.max(0, last - 0xffff); // the comment is at most 65535 bytes
  for (let at = last; at >= first; at--) {
    if (bytes[at] === 0x50 && bytes[at + 1] === 0x4b && r.u32(at, 'end record') === EOCD_SIG) return at;
  }
  return -1;
}

/**
 * Lists the members of a zip archive, validating every declared size and offset against the archive's length.
 * `fail(detail)` builds the error for a structural problem.
 */
export function listZipEntries(bytes: Uint8Array, fail: (detail: string) => InputError): ZipEntry[] {
  const r = new Reader(bytes, fail);
  if (bytes.length < 22) throw fail('too short for a zip end-of-central-directory record (22 bytes)');
  const eocd = findEocd(bytes, r);
  if (eocd < 0) throw fail('no end-of-central-directory record (signature 50 4b 05 06) in the last 64 KiB');
  let count = r.u16(eocd + 10, 'entry count');
  let cdSize = r.u32(eocd + 12, 'central directory size');
  let cdOffset = r.u32(eocd + 16, 'central directory offset');
  if (eocd >= 20 && r.u32(eocd - 20, 'zip64 locator') === ZIP64_LOCATOR_SIG) {
    const z = r.u64(eocd - 12, 'zip64 end record offset');
    if (!(z >= 0 && z + 56 <= eocd)) throw fail(`zip64 end record offset ${z} is outside the archive`);
    if (r.u32(z, 'zip64 end record') !== ZIP64_EOCD_SIG) throw fail(`no zip64 end record at byte ${z}`);
    if (count === 0xffff) count = r.u64(z + 32, 'zip64 entry count');
    if (cdSize === 0xffffffff) cdSize = r.u64(z + 40, 'zip64 central directory size');
    if (cdOffset === 0xffffffff) cdOffset = r.u64(z + 48, 'zip64 central directory offset');
  }
  if (cdOffset + cdSize > bytes.length) {
    throw fail(`central directory (${cdSize} bytes at byte ${cdOffset}) runs past the end of the archive`);
  }
  // Each entry takes at least 46 bytes of the directory: a larger count is forged.
  if (count > cdSize / CENTRAL_HEADER) throw fail(`declares ${count} entries, but a ${cdSize}-byte central directory holds at most ${Math.floor(cdSize / CENTRAL_HEADER)}`);

  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (r.u32(at, `central directory entry ${i}`) !== CENTRAL_SIG) throw fail(`central directory entry ${i} at byte ${at} has no signature 50 4b 01 02`);
    const flags = r.u16(at + 8, 'flags');
    const method = r.u16(at + 10, 'method');
    const crc = r.u32(at + 16, 'crc-32');
    let compressedSize = r.u32(at + 20, 'compressed size');
    let size = r.u32(at + 24, 'uncompressed size');
    const nameLen = r.u16(at + 28, 'name length');
    const extraLen = r.u16(at + 30, 'extra length');
    const commentLen = r.u16(at + 32, 'comment length');
    let localOffset = r.u32(at + 42, 'local header offset');
    const nameAt = at + CENTRAL_HEADER;
    const next = nameAt + nameLen + extraLen + commentLen;
    if (next > cdOffset + cdSize) throw fail(`central directory entry ${i} at byte ${at} runs past the directory`);
    const nameBytes = bytes.subarray(nameAt, nameAt + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
    // zip64 extra field (id 1): the 64-bit values of the fields that hold 0xffffffff, in this order.
    for (let e = nameAt + nameLen; e + 4 <= nameAt + nameLen + extraLen;) {
      const id = r.u16(e, 'extra field id');
      const len = r.u16(e + 2, 'extra field length');
      if (id === 1) {
        let f = e + 4;
        const end = f + len;
        const take = (what: string): number => {
          if (f + 8 > end) throw fail(`entry '${name}': zip64 extra field too short for the ${what}`);
          const v = r.u64(f, what);
          f += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('uncompressed size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localOffset === 0xffffffff) localOffset = take('local header offset');
      }
      e += 4 + len;
    }
    at = next;
    if (name.endsWith('/')) continue; // directory entry
    if (flags & 1) throw fail(`entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) throw fail(`entry '${name}' uses compression method ${method}; only stored (0) and deflated (8) are supported`);
    if (r.u32(localOffset, `local header of '${name}'`) !== LOCAL_SIG) throw fail(`entry '${name}': no local header at byte ${localOffset}`);
    const dataOffset = localOffset + LOCAL_HEADER + r.u16(localOffset + 26, 'local name length') + r.u16(localOffset + 28, 'local extra length');
    if (dataOffset + compressedSize > bytes.length) {
      throw fail(`entry '${name}': ${compressedSize} compressed bytes at byte ${dataOffset} run past the end of the archive`);
    }
    if (method === 0 && size !== compressedSize) throw fail(`stored entry '${name}' declares ${size} bytes but holds ${compressedSize}`);
    if (seen.has(name)) throw fail(`entry '${name}' appears twice`);
    seen.add(name);
    entries.push({ name, method, compressedSize, size, dataOffset, crc });
  }
  // Members may not share bytes: overlapping entries make a small archive decode to many large arrays.
  const spans = entries.map((e) => [e.dataOffset, e.dataOffset + e.compressedSize, e.name] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) throw fail(`entries '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap`);
  }
  // The end record's count must account for the whole directory: a lower count would hide members.
  if (at !== cdOffset + cdSize) throw fail(`the end record declares ${count} entries, but the central directory holds ${cdOffset + cdSize - at} more bytes after them`);
  return entries;
}

/**
 * Checks the declared sizes of the members about to be read against `maxInflatedBytes` (each, and together), before
 * anything is inflated. `fieldOf(entry)` names the error field.
 */
export function checkZipSizes(entries: readonly ZipEntry[], limits: DecodeLimits, fieldOf: (e: ZipEntry) => string, archiveField: string): void {
  let total = 0;
  for (const e of entries) {
    if (e.size > limits.maxInflatedBytes) {
      throw new InputError(fieldOf(e), `member declares ${formatBytes(e.size)} uncompressed, more than maxInflatedBytes ${formatBytes(limits.maxInflatedBytes)}`);
    }
    total += e.size;
  }
  if (total > limits.maxInflatedBytes) {
    throw new InputError(archiveField, `members declare ${formatBytes(total)} uncompressed together, more than maxInflatedBytes ${formatBytes(limits.maxInflatedBytes)}`);
  }
}

/** The bytes of one member, inflating at most its declared size; any other length is an InputError on `field`. */
export function readZipEntry(bytes: Uint8Array, e: ZipEntry, field: string): Uint8Array {
  const out = inflateEntry(bytes, e, field);
  const actual = crc32(out) >>> 0;
  if (actual !== e.crc) throw new InputError(field, `member is corrupt: its CRC-32 is ${hex32(actual)}, the archive declares ${hex32(e.crc)}`);
  return out;
}

const hex32 = (v: number): string => `0x${v.toString(16).padStart(8, '0')}`;

function inflateEntry(bytes: Uint8Array, e: ZipEntry, field: string): Uint8Array {
  const data = bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  if (e.method === 0) return data;
  let out: Uint8Array;
  try {
    const buf = inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) });
    out = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    if (err instanceof RangeError && (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InputError(field, `member inflates to more than the ${e.size} bytes its entry declares`);
    }
    throw new InputError(field, `corrupt deflate data in the member (${e.compressedSize} compressed bytes): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (out.length !== e.size) throw new InputError(field, `member inflates to ${out.length} bytes, its entry declares ${e.size}`);
  return out;
}
