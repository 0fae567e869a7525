/**
 * Just enough IAM to check S3 requests against a role's identity policy: the action and resource S3 authorises a
 * request as, and the policy evaluation (an explicit Deny wins, then any Allow, otherwise implicitly denied).
 * Deliberately small: anything it cannot evaluate exactly (NotAction, NotResource, a Condition, an intrinsic function
 * as the resource of a statement that could apply) throws instead of guessing.
 */
import type { RecordedRequest } from './s3-recorder.js';

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly Resource?: unknown;
  readonly NotAction?: unknown;
  readonly NotResource?: unknown;
  readonly Condition?: unknown;
  readonly Sid?: string;
}

/** One authorisation S3 makes for a request. */
export interface S3Authorization {
  readonly action: string;
  readonly resource: string;
}

const list = <T>(x: T | readonly T[] | undefined): readonly T[] => (x === undefined ? [] : Array.isArray(x) ? (x as readonly T[]) : [x as T]);

/**
 * IAM's wildcard match: `*` any run of characters (`/` included), `?` exactly one; everything else literal. Resources
 * compare case-sensitively, actions case-insensitively (`ignoreCase`).
 */
export function iamGlob(pattern: string, value: string, ignoreCase = false): boolean {
  const re = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`, ignoreCase ? 'is' : 's').test(value);
}

function applies(s: PolicyStatement, a: S3Authorization): boolean {
  if (s.NotAction !== undefined || s.NotResource !== undefined) throw new Error(`cannot evaluate NotAction/NotResource: ${JSON.stringify(s)}`);
  if (!list(s.Action).some((p) => iamGlob(p, a.action, true))) return false;
  // From here the statement is about this action: its resources and conditions must be evaluable.
  if (s.Condition !== undefined) throw new Error(`cannot evaluate a Condition: ${JSON.stringify(s)}`);
  const resources = list(s.Resource as string | string[] | undefined);
  for (const r of resources) if (typeof r !== 'string') throw new Error(`cannot evaluate the resource ${JSON.stringify(r)} of ${JSON.stringify(s)} for ${a.action}`);
  return resources.some((r) => iamGlob(r as string, a.resource));
}

export type Decision = { readonly allowed: true; readonly by: PolicyStatement } | { readonly allowed: false; readonly deniedBy?: PolicyStatement };

/**
 * Identity-policy evaluation: an explicit Deny that applies wins; otherwise an Allow that applies allows; otherwise
 * the request is implicitly denied. Statements of other services (logs, sqs; their `Fn::GetAtt`/`Fn::Join`
 * resources) never apply to an S3 action and are skipped before their resources are looked at.
 */
export function evaluate(statements: readonly PolicyStatement[], a: S3Authorization): Decision {
  const deny = statements.find((s) => s.Effect === 'Deny' && applies(s, a));
  if (deny) return { allowed: false, deniedBy: deny };
  const allow = statements.find((s) => s.Effect === 'Allow' && applies(s, a));
  return allow ? { allowed: true, by: allow } : { allowed: false };
}

/** Query parameters that do not change which operation a request is (presigned-URL auth, the SDK's operation hint). */
const NEUTRAL_QUERY = /^(x-id|X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token|Content-Sha256|Checksum-Mode)|response-[a-z-]+)$/;

/**
 * The authorisations S3 makes for one path-style request on `bucket` (docs: "Actions, resources, and condition keys
 * for Amazon S3"): object GET/HEAD → s3:GetObject, PUT → s3:PutObject (also UploadPart, CreateMultipartUpload and
 * CompleteMultipartUpload), DELETE → s3:DeleteObject, AbortMultipartUpload → s3:AbortMultipartUpload; CopyObject →
 * s3:GetObject on the source and s3:PutObject on the target; bucket GET (ListObjects v1/v2) and HEAD (HeadBucket) →
 * s3:ListBucket on the bucket. Anything else (another bucket, a subresource such as ?acl or ?tagging, a bucket-level
 * write, an x-amz-* header this does not know) is returned as `unknown`, with the reason, for the caller to fail on.
 * Headers that need a permission of their own add it: x-amz-acl/x-amz-grant-* → s3:PutObjectAcl, x-amz-tagging →
 * s3:PutObjectTagging, object-lock headers → s3:PutObjectRetention / s3:PutObjectLegalHold. A GET/HEAD answered 404
 * also needs s3:ListBucket on the bucket (without it S3 answers 403 instead).
 */
export function s3Authorizations(r: RecordedRequest, bucket: string): S3Authorization[] | { unknown: string } {
  const what = `${r.method} ${r.path}${r.query.length ? `?${r.query.map(([k]) => k).join('&')}` : ''}`;
  const headers = r.amzHeaders ?? [];
  const unknownHeader = headers.find((h) => !NEUTRAL_HEADER.test(h) && !EXTRA_ACTION_HEADERS.some(([re]) => re.test(h)));
  if (unknownHeader !== undefined) return { unknown: `${what}: header ${unknownHeader} may need a permission of its own` };
  const auths = operation(r, bucket, what);
  if (!Array.isArray(auths)) return auths;
  // Headers that need an action of their own on the object written (x-amz-acl → s3:PutObjectAcl, …).
  const extra = EXTRA_ACTION_HEADERS.filter(([re]) => headers.some((h) => re.test(h))).map(([, action]) => action);
  const written = auths.filter((a) => a.action === 's3:PutObject');
  const out = [...auths, ...[...new Set(extra)].flatMap((action) => written.map((a) => ({ action, resource: a.resource })))];
  // A read of a missing key: S3 answers 404 only to a caller that may also list the bucket, 403 otherwise, and the
  // code relies on the 404 (a missing keyring, manifest, claim or result is "absent", not an error).
  if ((r.method === 'GET' || r.method === 'HEAD') && r.status === 404 && out.some((a) => a.action === 's3:GetObject')) out.push({ action: 's3:ListBucket', resource: `arn:aws:s3:::${bucket}` });
  return out;
}

/**
 * x-amz-* request headers that need no permission beyond the operation's: signing, checksums, user metadata, storage
 * class, copy conditions. Server-side-encryption headers are not among them (SSE-KMS needs kms:GenerateDataKey, see
 * infra/README.md; no code here sends them), so they come out as unknown.
 */
const NEUTRAL_HEADER = /^x-amz-(content-sha256|date|security-token|user-agent|decoded-content-length|checksum-[a-z0-9]+|sdk-checksum-algorithm|trailer|meta-.+|storage-class|expected-bucket-owner|copy-source|copy-source-if-.+|metadata-directive)$/;
/** Headers whose write needs another action as well (S3's "Actions, resources, and condition keys"). */
const EXTRA_ACTION_HEADERS: readonly (readonly [RegExp, string])[] = [
  [/^x-amz-(acl|grant-.+)$/, 's3:PutObjectAcl'],
  [/^x-amz-tagging$/, 's3:PutObjectTagging'],
  [/^x-amz-object-lock-(mode|retain-until-date)$/, 's3:PutObjectRetention'],
  [/^x-amz-object-lock-legal-hold$/, 's3:PutObjectLegalHold'],
];

function operation(r: RecordedRequest, bucket: string, what: string): S3Authorization[] | { unknown: string } {
  const segs = r.path.split('/');
  if (segs[0] !== '' || segs[1] === undefined) return { unknown: `${what}: not a path-style S3 request` };
  let b: string;
  let key: string;
  try {
    b = decodeURIComponent(segs[1]);
    key = segs.slice(2).map(decodeURIComponent).join('/');
  } catch {
    return { unknown: `${what}: undecodable path` };
  }
  if (b !== bucket) return { unknown: `${what}: bucket ${JSON.stringify(b)} is not ${JSON.stringify(bucket)}` };
  const q = new Map(r.query.filter(([k]) => !NEUTRAL_QUERY.test(k)));
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `${bucketArn}/${key}`;
  const other = [...q.keys()];
  if (key === '') {
    const listing = new Set(['list-type', 'prefix', 'delimiter', 'max-keys', 'start-after', 'continuation-token', 'marker', 'encoding-type', 'fetch-owner']);
    if ((r.method === 'GET' || r.method === 'HEAD') && other.every((k) => listing.has(k))) return [{ action: 's3:ListBucket', resource: bucketArn }];
    return { unknown: `${what}: a bucket-level request that is not a listing` };
  }
  const only = (...allowed: string[]) => other.every((k) => allowed.includes(k));
  switch (r.method) {
    case 'GET':
    case 'HEAD':
      if (only('versionId', 'partNumber')) return q.has('versionId') ? { unknown: `${what}: versioned read (s3:GetObjectVersion)` } : [{ action: 's3:GetObject', resource: objectArn }];
      break;
    case 'PUT':
      if (r.copySource !== undefined) {
        if (!only('partNumber', 'uploadId')) break;
        const src = decodeURIComponent(r.copySource.replace(/^\//, '').split('?')[0]!);
        return [
          { action: 's3:GetObject', resource: `arn:aws:s3:::${src}` },
          { action: 's3:PutObject', resource: objectArn },
        ];
      }
      if (only('partNumber', 'uploadId') && q.has('partNumber') === q.has('uploadId')) return [{ action: 's3:PutObject', resource: objectArn }];
      break;
    case 'POST':
      if ((other.length === 1 && q.has('uploads')) || (other.length === 1 && q.has('uploadId'))) return [{ action: 's3:PutObject', resource: objectArn }];
      break;
    case 'DELETE':
      if (other.length === 0) return [{ action: 's3:DeleteObject', resource: objectArn }];
      if (other.length === 1 && q.has('uploadId')) return [{ action: 's3:AbortMultipartUpload', resource: objectArn }];
      break;
  }
  return { unknown: `${what}: no mapping to an IAM action` };
}
