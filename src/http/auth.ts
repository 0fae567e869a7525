import { Keyring, parseKeyring, type KeyringEntry } from '../auth/api-keys.js';
import type { Config } from '../config.js';
import { UnauthorizedError } from '../core/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { HttpEvent } from './events.js';
import { header } from './respond.js';

/**
 * Authentication of HTTP requests. Every route but GET /health calls `authenticate`; the key comes from the
 * `x-api-key` header or `Authorization: Bearer <key>`. The keyring is API_KEYS (config) plus, when API_KEYS_OBJECT is
 * set, a JSON object in the bucket (outside `tenants/`, so no tenant can read or write it), re-read at most every
 * API_KEYS_TTL_MS so keys can be added or revoked without a deploy.
 *
 * Failures are one 401 whatever went wrong (no key, malformed header, unknown key), so a caller learns nothing about
 * which keys exist. The presented key is never put in an error, a log line or a response.
 */
export interface Principal {
  readonly tenant: string;
  readonly keyId: string;
}

/** The key the request presents, or undefined. */
export function presentedKey(event: HttpEvent): string | undefined {
  const x = header(event, 'x-api-key');
  if (x !== undefined && x.trim() !== '') return x.trim();
  const auth = header(event, 'authorization');
  const m = auth === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
  return m ? m[1] : undefined;
}

let cachedObject: { key: string; keyring: Keyring; at: number } | undefined;

/** The keyring in effect: config's plus the bucket object's (cached for `keysTtlMs`). */
export async function loadKeyring(config: Config, store: ObjectStore, now = Date.now()): Promise<Keyring> {
  const objectKey = config.auth.keysObject;
  if (objectKey === undefined) return config.auth.keyring;
  if (!cachedObject || cachedObject.key !== objectKey || now - cachedObject.at >= config.auth.keysTtlMs) {
    const bytes = await store.get(objectKey);
    // A missing object is an empty keyring (fail closed); a malformed one is the operator's error (500, logged).
    let fromObject = new Keyring([]);
    if (bytes) {
      try {
        fromObject = parseKeyring(new TextDecoder().decode(bytes), objectKey);
      } catch (e) {
        // Not the caller's fault: an internal error (500 "internal error", the reason only in the log), never a
        // 4xx that describes the keyring to whoever sent the request.
        throw new Error(`the keyring object ${objectKey} is unusable: ${(e as Error).message}`, { cause: e });
      }
    }
    cachedObject = { key: objectKey, keyring: fromObject, at: now };
  }
  return mergeKeyrings(config.auth.keyring, cachedObject.keyring);
}

function mergeKeyrings(a: Keyring, b: Keyring): Keyring {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  return new Keyring([...a.entries(), ...b.entries()]);
}

/** Drops the cached bucket keyring (tests; a revocation that must take effect now). */
export function resetKeyringCache(): void {
  cachedObject = undefined;
}

export async function authenticate(event: HttpEvent, config: Config, store: ObjectStore): Promise<Principal> {
  const key = presentedKey(event);
  if (key === undefined) throw new UnauthorizedError('authorization', 'an API key is required (x-api-key header or Authorization: Bearer <key>)');
  const keyring = await loadKeyring(config, store);
  const entry: KeyringEntry | undefined = keyring.verify(key);
  if (!entry) throw new UnauthorizedError('authorization', 'the API key is not valid');
  return { tenant: entry.tenant, keyId: entry.id };
}
