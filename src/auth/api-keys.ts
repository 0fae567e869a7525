import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { InputError, issueField } from '../core/errors.js';

/**
 * API keys and the tenants they belong to. Pure: no I/O (src/http/auth.ts reads the keyring from config or S3).
 *
 * - A key is `idk_<43 base64url chars>` (256 random bits), shown once by `imagedrift keygen` and never stored.
 * - The keyring stores `{id, tenant, sha256}`: the SHA-256 of the key, hex. A fast hash is enough because the keys are
 *   uniformly random 256-bit secrets, not passwords (nothing to brute-force a dictionary against); it is what AWS and
 *   GitHub do for their tokens. Argon2/scrypt would add ~50 ms to every request for no gain.
 * - Lookup compares the presented key's hash against every entry with `timingSafeEqual` and does not stop at the first
 *   match, so the time taken does not depend on which entry (if any) matched or how many bytes agreed.
 * - `id` is a non-secret name for the key, safe to log (the access log records tenant and key id, never the key).
 */

/** Tenants become a key segment (`tenants/<tenant>/`), so they are restricted like ids. */
export const tenantIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of [a-z0-9-], starting with a letter or digit');
const keyIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 characters of [A-Za-z0-9_.-]');

export const keyringEntrySchema = z
  .object({
    id: keyIdSchema,
    tenant: tenantIdSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the key (64 lowercase hex digits)'),
  })
  .strict();
export type KeyringEntry = z.infer<typeof keyringEntrySchema>;
const keyringSchema = z.array(keyringEntrySchema).max(10_000, 'must hold at most 10000 keys');

/** Presented keys longer than this are rejected before hashing. */
export const MAX_API_KEY_LENGTH = 256;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (256 bits). */
export function generateApiKey(): string {
  return `idk_${randomBytes(32).toString('base64url')}`;
}

/** Parses a keyring (JSON text or an already-parsed value); errors name `source` and the entry. */
export function parseKeyring(value: unknown, source: string): Keyring {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      // Not JSON.parse's message: it quotes the text, which may be a key pasted here by mistake (errors are logged).
      throw new InputError(source, `is not valid JSON: expected an array of {"id","tenant","sha256"} entries (\`imagedrift keygen\` prints one; never the key itself)`);
    }
  }
  const r = keyringSchema.safeParse(v);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issueField(issue, '', ''); // `[2].sha256`; nothing when the keyring itself is wrong
    throw new InputError(source, `${where ? `${where} ` : ''}${issue.message}`);
  }
  const ids = new Set<string>();
  const hashes = new Map<string, number>();
  for (const [i, e] of r.data.entries()) {
    if (ids.has(e.id)) throw new InputError(source, `key id ${JSON.stringify(e.id)} appears twice`);
    ids.add(e.id);
    // One key, two entries (possibly two tenants): which tenant it acts for would depend on the order. Refused.
    const j = hashes.get(e.sha256);
    if (j !== undefined) throw new InputError(source, `[${i}].sha256 is the same key as entry [${j}]`);
    hashes.set(e.sha256, i);
  }
  return new Keyring(r.data);
}

export class Keyring {
  private readonly digests: { entry: KeyringEntry; digest: Buffer }[];

  constructor(entries: readonly KeyringEntry[]) {
    this.digests = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
  }

  get size(): number {
    return this.digests.length;
  }

  entries(): KeyringEntry[] {
    return this.digests.map((d) => d.entry);
  }

  /** Every tenant with at least one key, sorted. */
  tenants(): string[] {
    return [...new Set(this.digests.map((d) => d.entry.tenant))].sort();
  }

  /** The entry whose hash matches `presented`, compared in constant time against every entry; undefined if none. */
  verify(presented: string): KeyringEntry | undefined {
    if (presented.length === 0 || presented.length > MAX_API_KEY_LENGTH) return undefined;
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let found: KeyringEntry | undefined;
    for (const d of this.digests) {
      // No early exit: every entry is compared whatever happened before.
      if (timingSafeEqual(digest, d.digest) && found === undefined) found = d.entry;
    }
    return found;
  }
}
