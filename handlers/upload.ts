/**
 * upload: POST /datasets, POST /models, POST /uploads, POST /uploads/{id}/complete.
 *
 * - POST /datasets: JSON {name, data: base64, id?, npzKey?} or a raw body (?name=…&id=…&npzKey=…) → 201 manifest;
 *   JSON {presign: true, name, contentLength, id?} → 200 presigned PUT URL (same as POST /uploads).
 * - POST /models: JSON {data: base64, id?} or a raw ONNX body (?id=…) → 201 manifest.
 * - POST /uploads/{id}/complete → validates the PUT object, writes the dataset + manifest → 201 manifest.
 * Bodies over 6 MB (the Lambda request limit) → 413; invalid files → 400 and nothing is written.
 */
import { InputError } from '../src/core/errors.js';
import { httpHandler } from '../src/http/handler.js';
import { bodyBytes, isJsonRequest, json, jsonBody, parseWith, pathParam } from '../src/http/respond.js';
import { datasetUploadSchema, modelUploadSchema, presignUploadSchema, rawDatasetUploadQuerySchema, rawModelUploadQuerySchema, type PresignedUploadBody } from '../src/schemas.js';
import { completeDatasetUpload, INLINE_UPLOAD_LIMIT, presignDatasetUpload, putDataset, putModel } from '../src/service/datasets.js';
import { decodeBase64 } from '../src/io/base64.js';
import { canPresign } from '../src/storage/tenant-store.js';

function route(e: Parameters<typeof handler>[0]): string {
  const path = e.rawPath ?? e.requestContext?.http?.path ?? '';
  if (/\/uploads\/[^/]+\/complete$/.test(path)) return 'complete';
  if (/\/uploads$/.test(path)) return 'presign';
  if (/\/models$/.test(path)) return 'model';
  if (/\/datasets$/.test(path)) return 'dataset';
  throw new InputError('path', `no upload route ${JSON.stringify(path)}`);
}

export const handler = httpHandler(async (event, { store }) => {
  const r = route(event);
  const q = event.queryStringParameters ?? {};
  const presign = async (body: Record<string, unknown>) => {
    const p = parseWith(presignUploadSchema, body);
    if (!canPresign(store)) throw new InputError('presign', 'presigned uploads need the S3 store');
    const up = await presignDatasetUpload(store, { name: p.name, contentLength: p.contentLength, ...(p.id ? { id: p.id } : {}), ...(p.npzKey ? { npzKey: p.npzKey } : {}), ...(p.expiresIn ? { expiresIn: p.expiresIn } : {}) });
    return json(200, { ...up, method: 'PUT', headers: { 'content-length': String(p.contentLength) }, complete: `/uploads/${up.id}/complete` } satisfies PresignedUploadBody);
  };
  switch (r) {
    case 'complete':
      return json(201, await completeDatasetUpload(store, { id: pathParam(event, 'id') ?? '' }));
    case 'presign':
      return presign(jsonBody(event));
    case 'model': {
      if (isJsonRequest(event)) {
        const m = parseWith(modelUploadSchema, jsonBody(event));
        return json(201, await putModel(store, { bytes: decodeBase64(m.data, 'data'), ...(m.id ? { id: m.id } : {}) }));
      }
      const mq = parseWith(rawModelUploadQuerySchema, q);
      return json(201, await putModel(store, { bytes: bodyBytes(event, INLINE_UPLOAD_LIMIT), ...(mq.id ? { id: mq.id } : {}) }));
    }
    case 'dataset': {
      if (isJsonRequest(event)) {
        const body = jsonBody(event);
        if (body.presign === true) return presign(body);
        const d = parseWith(datasetUploadSchema, body);
        return json(201, await putDataset(store, { name: d.name, bytes: decodeBase64(d.data, 'data'), ...(d.id ? { id: d.id } : {}), ...(d.npzKey ? { npzKey: d.npzKey } : {}) }));
      }
      const dq = parseWith(rawDatasetUploadQuerySchema, q);
      const bytes = bodyBytes(event, INLINE_UPLOAD_LIMIT);
      return json(201, await putDataset(store, { name: dq.name, bytes, ...(dq.id ? { id: dq.id } : {}), ...(dq.npzKey ? { npzKey: dq.npzKey } : {}) }));
    }
  }
  throw new InputError('path', 'no such upload route');
});
