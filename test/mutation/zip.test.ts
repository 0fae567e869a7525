import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32, deflateRawSync } from 'node:zlib';
import { InputError } from '../../src/core/errors.js';
import { decodeNpy } from '../../src/io/npy.js';
import { listZipEntries, readZipEntry } from '../../src/io/zip.js';
import { dict, npyFile, rawBytes } from '../io/build-npy.js';

interface Member {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Overrides the uncompressed size written in both headers. */
  size?: number;
}

/** A minimal zip (no zip64): local headers + data, central directory, end record. */
function zip(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const body = m.deflate ? new Uint8Array(deflateRawSync(m.data)) : m.data;
    const crc = crc32(m.data) >>> 0;
    const size = m.size ?? m.data.length;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, m.deflate ? 8 : 0, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, body.length, true);
    local.setUint32(22, size, true);
    local.setUint16(26, name.length, true);
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(10, m.deflate ? 8 : 0, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, body.length, true);
    c.setUint32(24, size, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), name, body);
    central.push(new Uint8Array(c.buffer), name);
    offset += 30 + name.length + body.length;
  }
  const cdSize = central.reduce((s, p) => s + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, members.length, true);
  end.setUint16(10, members.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  const all = [...parts, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const fail = (detail: string) => new InputError('archive', detail);
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
const refused = (re: RegExp) => (e: unknown) => e instanceof InputError && e.field === 'archive' && re.test(e.message);

describe('listZipEntries refusals', () => {
  it('the builder makes archives it accepts', () => {
    const z = zip([{ name: 'a.npy', data: bytes(8) }, { name: 'b.npy', data: bytes(40), deflate: true }]);
    const es = listZipEntries(z, fail);
    assert.deepEqual(es.map((e) => e.name), ['a.npy', 'b.npy']);
    assert.deepEqual(readZipEntry(z, es[1]!, 'b'), bytes(40));
  });

  it('skips directory entries', () => {
    const es = listZipEntries(zip([{ name: 'dir/', data: new Uint8Array(0) }, { name: 'dir/a.npy', data: bytes(4) }]), fail);
    assert.deepEqual(es.map((e) => e.name), ['dir/a.npy']);
  });

  it('refuses a name that appears twice', () => {
    assert.throws(() => listZipEntries(zip([{ name: 'a.npy', data: bytes(4) }, { name: 'a.npy', data: bytes(6) }]), fail), refused(/'a\.npy' appears twice/));
  });

  it('refuses a stored entry whose sizes disagree', () => {
    assert.throws(() => listZipEntries(zip([{ name: 'a.npy', data: bytes(8), size: 16 }]), fail), refused(/stored entry 'a\.npy' declares 16 bytes but holds 8/));
  });

  it('refuses a deflated member that inflates to fewer bytes than declared (CRC alone would pass it)', () => {
    const z = zip([{ name: 'a.npy', data: bytes(40), deflate: true, size: 50 }]);
    const [e] = listZipEntries(z, fail);
    assert.throws(() => readZipEntry(z, e!, 'a'), (err: unknown) => err instanceof InputError && err.field === 'a' && /inflates to 40 bytes, its entry declares 50/.test(err.message));
  });
});

describe('decodeNpy byte order', () => {
  it("refuses '|' (no byte order) on a 2-byte type", () => {
    assert.throws(() => decodeNpy(npyFile(1, dict('|i2', [2]), rawBytes('i2', [1, 2], true))), (e: unknown) => e instanceof InputError && /no byte order/.test(e.message));
  });
});
