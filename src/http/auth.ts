import { Keyring, parseKeyring, type KeyringEntry } from '../auth/api-keys.js';
import type { Config } from '../config.js';
import { UnauthorizedError } from '../core/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Logger } from '../log.js';
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

/**
 * The key the request presents, or undefined. Two different keys (one in each header) are refused rather than one
 * picked: which tenant a request acts for must not depend on a header-precedence rule the caller may not know.
 */
export function presentedKey(event: HttpEvent): string | undefined {
  const raw = header(event, 'x-api-key');
  const x = raw !== undefined && raw.trim() !== '' ? raw.trim() : undefined;
  const auth = header(event, 'authorization');
  const bearer = auth === undefined ? undefined : /^Bearer[ ]+(\S+)\s*$/i.exec(auth)?.[1];
  if (x !== undefined && bearer !== undefined && x !== bearer) {
    throw new UnauthorizedError('authorization', 'the request presents two different API keys (x-api-key and Authorization: Bearer); send one');
  }
  return x ?? bearer;
}

/**
 * The last usable bucket keyring and when the object was last read; `problem` when it is unusable since, and
 * `everUsable` false when no usable version was read yet (the keyring is then empty).
 */
let cachedObject: { key: string; keyring: Keyring; at: number; problem?: Error; everUsable: boolean; reported?: boolean } | undefined;

/**
 * The keyring in effect: config's plus the bucket object's (cached for `keysTtlMs`). A missing object is an empty
 * keyring (fail closed). An object that turns unusable (malformed, half-edited) is the operator's error: the last
 * usable keyring stays in effect (no outage, no key wrongly accepted that was not accepted before) and the problem is
 * returned, to be logged; with no usable keyring read yet, keys it would hold cannot be judged (see authenticate).
 */
async function loadKeyringState(config: Config, store: ObjectStore, now = Date.now()): Promise<{ keyring: Keyring; problem?: Error; judged: boolean }> {
  const objectKey = config.auth.keysObject;
  if (objectKey === undefined) return { keyring: config.auth.keyring, judged: true };
  if (!cachedObject || cachedObject.key !== objectKey || now - cachedObject.at >= config.auth.keysTtlMs) {
    const bytes = await store.get(objectKey);
    try {
      const fromObject = bytes ? parseKeyring(new TextDecoder().decode(bytes), objectKey) : new Keyring([]);
      cachedObject = { key: objectKey, keyring: fromObject, at: now, everUsable: true };
    } catch (e) {
      const problem = new Error(`the keyring object ${objectKey} is unusable: ${(e as Error).message}`, { cause: e });
      const last = cachedObject?.key === objectKey ? cachedObject : undefined;
      cachedObject = { key: objectKey, keyring: last?.keyring ?? new Keyring([]), at: now, problem, everUsable: last?.everUsable ?? false };
    }
  }
  const c = cachedObject;
  return { keyring: mergeKeyrings(config.auth.keyring, c.keyring), ...(c.problem ? { problem: c.problem } : {}), judged: !c.problem || c.everUsable };
}

/** The keyring in effect (see loadKeyringState); an unusable object with no earlier usable version is an error. */
export async function loadKeyring(config: Config, store: ObjectStore, now = Date.now()): Promise<Keyring> {
  const s = await loadKeyringState(config, store, now);
  if (!s.judged) throw s.problem!;
  return s.keyring;
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

export async function authenticate(event: HttpEvent, config: Config, store: ObjectStore, logger?: Pick<Logger, 'error'>): Promise<Principal> {
  const key = presentedKey(event);
  if (key === undefined) throw new UnauthorizedError('authorization', 'an API key is required (x-api-key header or Authorization: Bearer <key>)');
  const { keyring, problem, judged } = await loadKeyringState(config, store);
  if (problem && cachedObject && !cachedObject.reported) {
    cachedObject.reported = true; // once per read of the object, not per request
    logger?.error({ err: problem, lastUsableInEffect: judged }, 'API keyring object unusable');
  }
  const entry: KeyringEntry | undefined = keyring.verify(key);
  // A key not in effect while the bucket's keyring was never usable: it may be one that object holds, so it is neither
  // accepted nor called invalid. An internal error (500; the reason only in the log), never a 4xx that describes the
  // keyring to whoever sent the request. With a last usable keyring in effect, the answer is that keyring's.
  if (!entry && !judged) throw problem!;
  if (!entry) throw new UnauthorizedError('authorization', 'the API key is not valid');
  return { tenant: entry.tenant, keyId: entry.id };
}
