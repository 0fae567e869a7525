import { createHash } from 'node:crypto';

/** The hex SHA-256 of some bytes: how models, datasets and stored files are named and checked. */
export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
