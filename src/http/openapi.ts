/**
 * The OpenAPI 3.1 description of the HTTP API (docs/openapi.json, written by `npm run openapi`): the route table below
 * plus the request and response schemas of src/schemas.ts, converted with zod's `z.toJSONSchema`. Pure: it returns the
 * document and reads nothing. Three tests keep it true (test/http/openapi.test.ts, test/e2e/openapi-routes.test.ts,
 * test/handlers/openapi-contract.test.ts): the committed file is what this produces, its routes are serverless.yml's
 * httpApi events, and every route's real responses parse with the schema the document names for their status.
 */
import { z } from 'zod';
import {
  calibrateMessageSchema,
  datasetManifestSchema,
  datasetUploadSchema,
  describeParamsSchema,
  detectorDescriptionSchema,
  detectorListSchema,
  errorBodySchema,
  fitMessageSchema,
  healthSchema,
  idSchema,
  jobAcceptedSchema,
  jobStatusSchema,
  listDetectorsMessageSchema,
  modelManifestSchema,
  modelUploadSchema,
  numericTextForms,
  predictMessageSchema,
  predictResponseSchema,
  presignedUploadSchema,
  presignUploadSchema,
  rawDatasetUploadQuerySchema,
  rawModelUploadQuerySchema,
} from '../schemas.js';
import { JOB_ID_PATTERN } from '../storage/keys.js';
import { LIBRARY_VERSION } from '../version.js';

/** Success bodies by the name the document gives them (`#/components/schemas/<name>`). */
export const RESPONSE_SCHEMAS = {
  Health: healthSchema,
  DatasetManifest: datasetManifestSchema,
  ModelManifest: modelManifestSchema,
  PresignedUpload: presignedUploadSchema,
  JobAccepted: jobAcceptedSchema,
  PredictResponse: predictResponseSchema,
  JobStatus: jobStatusSchema,
  DetectorDescription: detectorDescriptionSchema,
  DetectorList: detectorListSchema,
  Error: errorBodySchema,
} as const;
type ResponseName = keyof typeof RESPONSE_SCHEMAS;
type SuccessName = Exclude<ResponseName, 'Error'>;
const RESPONSE_DESCRIPTIONS: Record<SuccessName, string> = {
  Health: 'The function is up.',
  DatasetManifest: "The dataset's manifest: what was stored and how it was read.",
  ModelManifest: "The model's manifest: its image input and tensor count.",
  PresignedUpload: 'A presigned PUT URL (valid `expiresIn` seconds) for exactly `contentLength` bytes; POST `complete` after the PUT.',
  JobAccepted: 'The job is queued; poll `status` (GET /jobs/{id}). `n`: the samples of a predict job.',
  PredictResponse: 'Flags (1 = OOD), scores, p-values (calibrated detectors), the threshold used and the detector version; `ms` the scoring time.',
  JobStatus: "The job's state; a completed job's result, a failed job's error.",
  DetectorDescription: 'The detector version: model, layer, preprocessing, detector, stored arrays (shapes only) and calibration.',
  DetectorList: "The page of the tenant's detectors; `next` while more may follow.",
};

/** Every error status a route can answer, with its meaning and the headers it carries (src/http/respond.ts). */
const ERROR_STATUSES = {
  400: { name: 'InvalidInput', description: 'Bad input: `field` names the parameter, body field or query parameter (`INVALID_INPUT`).' },
  401: { name: 'Unauthorized', description: 'Missing or unknown API key (`UNAUTHORIZED`).', header: 'WWW-Authenticate' },
  404: { name: 'NotFound', description: "Unknown id, including another tenant's (`NOT_FOUND`)." },
  409: { name: 'Conflict', description: 'The id is taken (`CONFLICT`), or the detector has no threshold yet: calibrate it or pass `threshold` (`NOT_FITTED`).' },
  413: { name: 'PayloadTooLarge', description: 'The body is over MAX_BODY_BYTES (6 MB; use a presigned upload for larger files) (`PAYLOAD_TOO_LARGE`).' },
  422: { name: 'ModelError', description: 'The stored model cannot be loaded or run (`MODEL_ERROR`).' },
  429: { name: 'TooManyJobs', description: 'The tenant already has MAX_JOBS_PER_TENANT jobs in flight (`TOO_MANY_JOBS`); retry after Retry-After seconds.', header: 'Retry-After' },
  500: { name: 'ServerError', description: 'Stored state could not be read or written (`STORAGE_ERROR`), a misconfigured function (`CONFIGURATION`) or an internal error (`INTERNAL`): a code and a fixed sentence, the detail is in the service log.' },
  503: { name: 'Unavailable', description: 'Storage or the job queue is unavailable (`UNAVAILABLE`); retry after Retry-After seconds.', header: 'Retry-After' },
} as const;
export type ErrorStatus = keyof typeof ERROR_STATUSES;

/** What an authenticated route can always answer: no key, a body over the limit, the server's own failures. */
const COMMON_ERRORS: readonly ErrorStatus[] = [401, 413, 500, 503];

type PathId = 'id' | 'jobId';
export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** The serverless.yml function that serves it. */
  readonly function: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  /** False only for /health. */
  readonly auth?: boolean;
  /** The `{id}` path parameter: a dataset/detector/upload id, or a job id. */
  readonly pathId?: PathId;
  /** A JSON body; `pathDetector`: the body may repeat the path's id as `detector` (it must then be equal). */
  readonly json?: { readonly schema: z.ZodType; readonly pathDetector?: boolean };
  /** The raw file as the body, with its other fields as query parameters (any content type but JSON). */
  readonly raw?: { readonly query: z.ZodObject; readonly description: string };
  /** Query parameters (each property one parameter). */
  readonly query?: z.ZodObject;
  /** Success status → the body's schema name. */
  readonly responses: Readonly<Partial<Record<200 | 201 | 202, SuccessName>>>;
  /** Error statuses besides COMMON_ERRORS. */
  readonly errors: readonly ErrorStatus[];
}

const presignBody = presignUploadSchema.extend({ presign: z.literal(true) }).strict();

/** POST /detectors/{id}/<op> answered 202 with a job: fit and calibrate. */
function detectorJob(op: 'fit' | 'calibrate', operationId: string, schema: z.ZodType, summary: string): Route {
  return { method: 'POST', path: `/detectors/{id}/${op}`, function: op, operationId, summary, pathId: 'id', json: { schema, pathDetector: true }, responses: { 202: 'JobAccepted' }, errors: [400, 404, 422, 429] };
}

/** The HTTP API: one entry per `httpApi` event in serverless.yml (a test compares the two). */
export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/health', function: 'health', operationId: 'health', summary: 'Liveness and the library version; needs no API key.', auth: false, responses: { 200: 'Health' }, errors: [] },
  {
    method: 'POST',
    path: '/datasets',
    function: 'upload',
    operationId: 'uploadDataset',
    summary: 'Upload a dataset inline (≤ 6 MB), or ask for a presigned PUT URL with `presign: true`.',
    description: 'The file is decoded with the same decoders as the CLI before anything is written; an invalid upload writes nothing.',
    json: { schema: z.union([datasetUploadSchema, presignBody]) },
    raw: { query: rawDatasetUploadQuerySchema, description: 'The raw file; `name` (the original file name) is then required as a query parameter.' },
    responses: { 201: 'DatasetManifest', 200: 'PresignedUpload' },
    errors: [400, 409],
  },
  {
    method: 'POST',
    path: '/models',
    function: 'upload',
    operationId: 'uploadModel',
    summary: 'Upload an ONNX model inline (≤ 6 MB); it must be self-contained (no external data).',
    json: { schema: modelUploadSchema },
    raw: { query: rawModelUploadQuerySchema, description: 'The raw ONNX file.' },
    responses: { 201: 'ModelManifest' },
    errors: [400, 409],
  },
  { method: 'POST', path: '/uploads', function: 'upload', operationId: 'presignUpload', summary: 'A presigned PUT URL for a large dataset; PUT the file there, then POST its `complete` path.', json: { schema: presignUploadSchema }, responses: { 200: 'PresignedUpload' }, errors: [400, 409] },
  {
    method: 'POST',
    path: '/uploads/{id}/complete',
    function: 'upload',
    operationId: 'completeUpload',
    summary: 'Validate and promote what was PUT to a presigned URL; calling it again returns the same dataset.',
    pathId: 'id',
    responses: { 201: 'DatasetManifest' },
    errors: [400, 404, 409],
  },
  detectorJob('fit', 'fitDetector', fitMessageSchema, 'Enqueue a fit: the worker extracts features, fits the detector and saves a new version.'),
  detectorJob(
    'calibrate',
    'calibrateDetector',
    calibrateMessageSchema,
    'Enqueue a calibration: labelled (`oodLabels` or `oodLabelsKey`, optional `grid`) or label-free (`targetFpr`, dataset = held-out in-distribution data); it saves a new version carrying the threshold.',
  ),
  {
    method: 'POST',
    path: '/detectors/{id}/predict',
    function: 'predict',
    operationId: 'predict',
    summary: 'Score a dataset or inline images: up to SYNC_PREDICT_MAX_IMAGES (64) samples answered inline (200), more as a job (202).',
    pathId: 'id',
    json: { schema: predictMessageSchema, pathDetector: true },
    responses: { 200: 'PredictResponse', 202: 'JobAccepted' },
    errors: [400, 404, 409, 422, 429],
  },
  {
    method: 'GET',
    path: '/jobs/{id}',
    function: 'jobStatus',
    operationId: 'jobStatus',
    summary: "A job's state, progress, and its result or error; a result over 4 MiB is `{resultKey, bytes, url}` (a presigned GET valid 15 minutes).",
    pathId: 'jobId',
    responses: { 200: 'JobStatus' },
    errors: [404],
  },
  { method: 'GET', path: '/detectors', function: 'describe', operationId: 'listDetectors', summary: "A page of the tenant's detectors in key order; `next` is the `after` of the next page.", query: listDetectorsMessageSchema, responses: { 200: 'DetectorList' }, errors: [400] },
  {
    method: 'GET',
    path: '/detectors/{id}',
    function: 'describe',
    operationId: 'describeDetector',
    summary: 'What a detector version is (the current one, or `version`), read off its manifest; never array values.',
    pathId: 'id',
    query: describeParamsSchema,
    responses: { 200: 'DetectorDescription' },
    errors: [400, 404],
  },
];

/** The statuses a route answers: its successes, then its errors in numeric order. */
export function routeStatuses(r: Route): number[] {
  const errors = r.auth === false ? r.errors : [...new Set([...COMMON_ERRORS, ...r.errors])];
  return [...Object.keys(r.responses).map(Number), ...[...errors].sort((a, b) => a - b)];
}

const successName = (r: Route, status: number): SuccessName | undefined => (r.responses as Record<number, SuccessName | undefined>)[status];

/** The schema the document gives route `method path`'s body at `status`; undefined for a status it does not document. */
export function responseSchemaFor(method: string, path: string, status: number): z.ZodType | undefined {
  const r = ROUTES.find((x) => x.method === method && x.path === path);
  if (!r || !routeStatuses(r).includes(status)) return undefined;
  const name = successName(r, status) ?? 'Error';
  return RESPONSE_SCHEMAS[name];
}

type JsonSchema = Record<string, unknown>;

/** `schema` as JSON Schema 2020-12 (OpenAPI 3.1's dialect): requests as they are accepted (`input`), responses as sent. */
function toJson(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'throw',
    override: (ctx) => {
      const js = ctx.jsonSchema as JsonSchema;
      const def = ctx.zodSchema._zod.def;
      // A number that may also come as a string (src/schemas.ts, numericTextForms): publish both accepted forms.
      const text = numericTextForms.get(ctx.zodSchema);
      if (text && io === 'input') {
        const number = { ...js };
        for (const k of Object.keys(js)) delete js[k];
        js.anyOf = [number, { type: 'string', pattern: text.pattern.source }];
      }
      // A field one variant never has (`z.never().optional()`): strict objects leave it out already.
      if (def.type === 'object') {
        const props = js.properties as Record<string, JsonSchema> | undefined;
        for (const [k, v] of Object.entries((def as z.core.$ZodObjectDef).shape)) {
          const inner = v._zod.def.type === 'optional' ? (v._zod.def as z.core.$ZodOptionalDef).innerType : undefined;
          if (props && inner?._zod.def.type === 'never') delete props[k];
        }
      }
    },
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** The request body's schema; for a path-merged message, `detector` is optional (the path names it). */
function requestJson(j: NonNullable<Route['json']>): JsonSchema {
  const js = toJson(j.schema, 'input');
  if (j.pathDetector) {
    js.required = (js.required as string[]).filter((k) => k !== 'detector');
    (js.properties as Record<string, JsonSchema>).detector = { ...(js.properties as Record<string, JsonSchema>).detector, description: "Optional: the path's id; if given, it must equal it." };
  }
  return js;
}

function queryParameters(schema: z.ZodObject, forRaw: boolean): JsonSchema[] {
  const js = toJson(schema, 'input');
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(js.properties as Record<string, JsonSchema>).map(([name, s]) => ({
    name,
    in: 'query',
    // A raw upload's fields are required only with a raw body (a JSON body carries them itself).
    required: !forRaw && required.has(name),
    ...(forRaw ? { description: `With a raw body only${required.has(name) ? ' (required there)' : ''}.` } : {}),
    schema: s,
  }));
}

const ref = (kind: 'schemas' | 'responses', name: string) => ({ $ref: `#/components/${kind}/${name}` });

function operation(r: Route): JsonSchema {
  const parameters: JsonSchema[] = [];
  if (r.pathId) {
    const schema = r.pathId === 'jobId' ? { type: 'string', pattern: JOB_ID_PATTERN.source } : toJson(idSchema, 'input');
    parameters.push({ name: 'id', in: 'path', required: true, schema });
  }
  if (r.query) parameters.push(...queryParameters(r.query, false));
  if (r.raw) parameters.push(...queryParameters(r.raw.query, true));
  const content: JsonSchema = {};
  if (r.json) content['application/json'] = { schema: requestJson(r.json) };
  if (r.raw) content['application/octet-stream'] = { schema: { description: `${r.raw.description} Any content type but JSON is read as the file; API Gateway passes binary bodies base64-encoded.` } };
  const responses: JsonSchema = {};
  for (const status of routeStatuses(r)) {
    const name = successName(r, status);
    responses[String(status)] = name ? { description: RESPONSE_DESCRIPTIONS[name], content: { 'application/json': { schema: ref('schemas', name) } } } : ref('responses', ERROR_STATUSES[status as ErrorStatus].name);
  }
  return {
    operationId: r.operationId,
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    'x-function': r.function,
    ...(r.auth === false ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(Object.keys(content).length > 0 ? { requestBody: { required: true, content } } : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of the HTTP API. */
export function openApiDocument(): JsonSchema {
  const paths: Record<string, JsonSchema> = {};
  for (const r of ROUTES) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  const errorResponses = Object.fromEntries(
    Object.values(ERROR_STATUSES).map((e) => [
      e.name,
      {
        description: e.description,
        ...('header' in e ? { headers: { [e.header]: { schema: { type: 'string' }, description: e.header === 'Retry-After' ? 'Seconds to wait before retrying.' : 'Bearer realm="imagedrift"' } } } : {}),
        content: { 'application/json': { schema: ref('schemas', 'Error') } },
      },
    ]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'imagedrift',
      version: LIBRARY_VERSION,
      description:
        'Concept-drift / out-of-distribution detection for image classifiers: upload datasets and ONNX models, fit and calibrate detectors (as jobs), predict. Generated from src/schemas.ts and src/http/openapi.ts by `npm run openapi`; do not edit by hand.',
    },
    security: [{ apiKey: [] }, { bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key (`imagedrift keygen`).' },
        bearer: { type: 'http', scheme: 'bearer', description: 'The same API key as `Authorization: Bearer <key>`.' },
      },
      schemas: Object.fromEntries(Object.entries(RESPONSE_SCHEMAS).map(([name, s]) => [name, toJson(s, 'output')])),
      responses: errorResponses,
    },
  };
}
