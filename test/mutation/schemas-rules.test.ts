/**
 * Message-schema rules of src/schemas.ts that no fast test pinned (found by mutation testing): numeric text, inclusive
 * and exclusive bounds, key and prefix shapes, calibrate's label-free mode, strictness of every service message, and
 * the audit config. Expected values come from the doc comments and messages in src/schemas.ts and the README limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  auditConfigSchema,
  batchSizeSchema,
  calibrateMessageSchema,
  datasetUploadSchema,
  driftParamsSchema,
  fitParamsSchema,
  gridSchema,
  idSchema,
  keyPrefixSchema,
  modelUploadSchema,
  objectKeySchema,
  predictMessageSchema,
  presignUploadSchema,
  thresholdSchema,
} from '../../src/schemas.js';

type Schema = { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } };
const ok = (s: Schema, v: unknown) => assert.equal(s.safeParse(v).success, true, `${JSON.stringify(v)} should be accepted`);
const bad = (s: Schema, v: unknown, path?: string) => {
  const r = s.safeParse(v);
  assert.equal(r.success, false, `${JSON.stringify(v)?.slice(0, 200)} should be refused`);
  if (path !== undefined) assert.equal(String(r.error!.issues[0]!.path[0]), path, JSON.stringify(r.error!.issues[0]));
};
const firstPath = (s: Schema, v: unknown) => s.safeParse(v).error?.issues[0]?.path.map(String).join('.');

describe('numbers given as text: decimal only', () => {
  it('"0x10", "0b1", "Infinity" are not numbers; decimal text with an exponent or spaces is', () => {
    for (const t of ['0x10', '0b1', '0o7', 'Infinity', '1_000']) bad(batchSizeSchema, t);
    for (const t of ['0x10', 'Infinity', '-Infinity']) bad(thresholdSchema, t);
    assert.equal(batchSizeSchema.parse('1e1'), 10);
    assert.equal(batchSizeSchema.parse(' 5 '), 5);
    assert.equal(thresholdSchema.parse('-.5'), -0.5);
  });
});

describe('ranges', () => {
  it('grid: strictly between 0 and 1', () => {
    bad(gridSchema, 0);
    bad(gridSchema, 1);
    ok(gridSchema, 0.01);
  });
  it('batchSize: an integer in [1, 65536]', () => {
    ok(batchSizeSchema, 1);
    ok(batchSizeSchema, 65536);
    bad(batchSizeSchema, 65537);
    bad(batchSizeSchema, 0);
    bad(batchSizeSchema, 2.5);
  });
  it('scale: > 0 (e.g. 1/65535 for 16-bit images)', () => {
    ok(fitParamsSchema, { scale: 1 / 65535 });
    bad(fitParamsSchema, { scale: 0 }, 'scale');
  });
  it('members: at most 8', () => {
    const m = { layer: '9', detector: { kind: 'energy' } };
    ok(fitParamsSchema, { method: 'ensemble', members: Array(8).fill(m) });
    bad(fitParamsSchema, { method: 'ensemble', members: Array(9).fill(m) }, 'members');
  });
  it('drift: alpha in (0,1), permutations an integer in [1, 100000]', () => {
    bad(driftParamsSchema, { alpha: 1 }, 'alpha');
    bad(driftParamsSchema, { alpha: 0 }, 'alpha');
    ok(driftParamsSchema, { permutations: 100_000 });
    bad(driftParamsSchema, { permutations: 100_001 }, 'permutations');
    bad(driftParamsSchema, { permutations: 0 }, 'permutations');
  });
});

describe('calibrate', () => {
  const cal = (extra: Record<string, unknown>) => ({ detector: 'd', dataset: 'x', ...extra });
  it('targetFpr: strictly between 0 and 1', () => {
    ok(calibrateMessageSchema, cal({ targetFpr: 0.05 }));
    bad(calibrateMessageSchema, cal({ targetFpr: 1 }), 'targetFpr');
    bad(calibrateMessageSchema, cal({ targetFpr: 0 }), 'targetFpr');
  });
  it('referenceRows: 0 keeps none; at most 5000', () => {
    ok(calibrateMessageSchema, cal({ targetFpr: 0.05, referenceRows: 0 }));
    ok(calibrateMessageSchema, cal({ targetFpr: 0.05, referenceRows: 5000 }));
    bad(calibrateMessageSchema, cal({ targetFpr: 0.05, referenceRows: 5001 }), 'referenceRows');
  });
  it('label-free (targetFpr) takes no labels and no grid, each refused by name', () => {
    assert.equal(firstPath(calibrateMessageSchema, cal({ targetFpr: 0.05, grid: 0.01 })), 'grid');
    assert.equal(firstPath(calibrateMessageSchema, cal({ targetFpr: 0.05, grid: 0.01, oodLabels: [0, 1] })), 'oodLabels');
    assert.equal(firstPath(calibrateMessageSchema, cal({ targetFpr: 0.05, oodLabelsKey: 'labels.json' })), 'oodLabelsKey');
  });
  it('inline labels: at least one', () => {
    bad(calibrateMessageSchema, cal({ oodLabels: [] }), 'oodLabels');
    ok(calibrateMessageSchema, cal({ oodLabels: [0, 1] }));
  });
});

describe('ids and keys', () => {
  it('ids: 1-64 characters of [A-Za-z0-9_-], starting with a letter or digit', () => {
    ok(idSchema, 'a'.repeat(64));
    bad(idSchema, 'a'.repeat(65));
    bad(idSchema, '-x');
    bad(idSchema, '_x');
    ok(idSchema, 'x-_1');
  });
  it('objectKey: at most 900 bytes, inclusive', () => {
    ok(objectKeySchema, `labels/${'k'.repeat(888)}.json`); // 900 bytes
    bad(objectKeySchema, `labels/${'k'.repeat(889)}.json`); // 901 bytes
  });
  it('objectKey: no backslash, NUL, leading slash or empty segment', () => {
    for (const k of ['labels\\..\\x.json', 'labels/x\0.json', '/labels.json', 'a//b.json', 'a/./b.json']) bad(objectKeySchema, k);
  });
  it('keyPrefix: at most 512 characters of safe segments, each ending in "/", none "." or ".."', () => {
    ok(keyPrefixSchema, `${'p'.repeat(511)}/`);
    bad(keyPrefixSchema, `${'p'.repeat(512)}/`);
    for (const p of ['captures', 'captures/camera-1', '/captures/', 'a/../b/', './', '../', 'a//']) bad(keyPrefixSchema, p);
  });
});

describe('service messages are strict: an unknown field (e.g. tenant) is refused', () => {
  for (const [name, schema, valid] of [
    ['calibrate', calibrateMessageSchema, { detector: 'd', dataset: 'x', oodLabels: [0, 1] }],
    ['predict', predictMessageSchema, { detector: 'd', dataset: 'x' }],
    ['dataset upload', datasetUploadSchema, { name: 'x.npy', data: 'AAAA' }],
    ['presigned upload', presignUploadSchema, { name: 'x.npy', contentLength: 10 }],
    ['model upload', modelUploadSchema, { data: 'AAAA' }],
  ] as const) {
    it(name, () => {
      ok(schema, valid);
      bad(schema, { ...valid, tenant: 'other' });
    });
  }
});

describe('presigned uploads', () => {
  it('expiresIn at most 3600 s (temporary credentials expire with the role’s session); contentLength > 0', () => {
    const p = { name: 'x.npy', contentLength: 10 };
    ok(presignUploadSchema, { ...p, expiresIn: 3600 });
    bad(presignUploadSchema, { ...p, expiresIn: 3601 }, 'expiresIn');
    bad(presignUploadSchema, { ...p, expiresIn: 0 }, 'expiresIn');
    bad(presignUploadSchema, { name: 'x.npy', contentLength: 0 }, 'contentLength');
  });

  it('numbers as JSON numbers or numeric strings, as every other number field takes them (README)', () => {
    // contentLength and expiresIn took only JSON numbers: "10368" was a 400 with zod's default wording.
    assert.deepEqual(presignUploadSchema.parse({ name: 'x.npy', contentLength: '10368', expiresIn: '60' }), { name: 'x.npy', contentLength: 10368, expiresIn: 60 });
    for (const v of [null, true, [5], '', '0x10', '1.5']) bad(presignUploadSchema, { name: 'x.npy', contentLength: v }, 'contentLength');
    bad(presignUploadSchema, { name: 'x.npy', contentLength: 10, expiresIn: '3601' }, 'expiresIn');
  });
});

describe('audit config', () => {
  const cfg = (extra: Record<string, unknown>) => ({ detector: 'd', prefix: 'captures/', ...extra });
  it('alpha strictly between 0 and 1', () => {
    bad(auditConfigSchema, cfg({ alpha: 1 }), 'alpha');
    bad(auditConfigSchema, cfg({ alpha: 0 }), 'alpha');
  });
  it('maxObjects in [1, 100000]', () => {
    ok(auditConfigSchema, cfg({ maxObjects: 1 }));
    ok(auditConfigSchema, cfg({ maxObjects: 100_000 }));
    bad(auditConfigSchema, cfg({ maxObjects: 0 }), 'maxObjects');
    bad(auditConfigSchema, cfg({ maxObjects: 100_001 }), 'maxObjects');
  });
  it('mmdWindow at most 2000; mmdPermutations enough for the MMD p-value to fall below its level (both inclusive)', () => {
    ok(auditConfigSchema, cfg({ mmdWindow: 2000 }));
    bad(auditConfigSchema, cfg({ mmdWindow: 2001 }), 'mmdWindow');
    // Default alpha 0.01, MMD not in alertOn: its own isDrift needs 1/(P+1) < 0.01, so P >= 100.
    ok(auditConfigSchema, cfg({ mmdPermutations: 100 }));
    bad(auditConfigSchema, cfg({ mmdPermutations: 99 }), 'mmdPermutations');
    // In alertOn with one other test: alpha / 2 = 0.005, so P >= 200; alpha 0.05 alone: P >= 20.
    ok(auditConfigSchema, cfg({ alertOn: ['binomial', 'mmd'], mmdPermutations: 200 }));
    bad(auditConfigSchema, cfg({ alertOn: ['binomial', 'mmd'], mmdPermutations: 199 }), 'mmdPermutations');
    ok(auditConfigSchema, cfg({ alpha: 0.05, mmdPermutations: 20 }));
    bad(auditConfigSchema, cfg({ alpha: 0.05, mmdPermutations: 19 }), 'mmdPermutations');
    // Omitted: 200, or the floor when it is higher; a floor above the 2000 allowed is refused on alpha.
    const perms = (extra: Record<string, unknown>) => auditConfigSchema.parse(cfg(extra)).mmdPermutations;
    assert.equal(perms({}), 200);
    assert.equal(perms({ alertOn: ['binomial', 'mmd'] }), 200);
    assert.equal(perms({ alertOn: ['binomial', 'ks', 'mmd'] }), 300);
    assert.equal(perms({ alpha: 0.001 }), 1000);
    assert.equal(perms({ mmdWindow: 0, alpha: 0.0001 }), 200);
    bad(auditConfigSchema, cfg({ alpha: 0.0001, alertOn: ['mmd', 'ks'] }), 'alpha');
    bad(auditConfigSchema, cfg({ alpha: 0.0001, alertOn: ['mmd', 'ks'], mmdPermutations: 2000 }), 'mmdPermutations');
    ok(auditConfigSchema, cfg({ alpha: 0.0005, mmdPermutations: 2000 }));
    // MMD off (mmdWindow 0): no floor beyond 1.
    ok(auditConfigSchema, cfg({ mmdWindow: 0, mmdPermutations: 1 }));
    bad(auditConfigSchema, cfg({ mmdWindow: 0, mmdPermutations: 0 }), 'mmdPermutations');
  });
  it('alertOn must not repeat a test', () => {
    ok(auditConfigSchema, cfg({ alertOn: ['binomial', 'ks'] }));
    bad(auditConfigSchema, cfg({ alertOn: ['ks', 'ks'] }), 'alertOn');
  });
  it('unknown fields are refused', () => {
    bad(auditConfigSchema, cfg({ colour: 'blue' }));
  });
  it('the prefix is a key prefix: no "..", ending in "/"', () => {
    bad(auditConfigSchema, cfg({ prefix: 'captures/../tenants/' }), 'prefix');
    bad(auditConfigSchema, cfg({ prefix: 'captures' }), 'prefix');
  });
});
