import { InputError } from '../core/errors.js';

/**
 * Base64 file content in a JSON body, the one rule for every field that carries it (uploads, predict's images):
 * standard alphabet with padding, whitespace ignored, an optional `data:<type>;base64,` prefix.
 */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function strip(s: string): string {
  return s.replace(/\s+/g, '').replace(/^data:[^;,]*;base64,/, '');
}

export function isBase64(s: string): boolean {
  const t = strip(s);
  return t.length > 0 && t.length % 4 === 0 && BASE64.test(t);
}

export function decodeBase64(s: string, field: string): Uint8Array {
  if (!isBase64(s)) throw new InputError(field, 'is not valid base64');
  const b = Buffer.from(strip(s), 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
