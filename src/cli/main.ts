import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { InputError, isImagedriftError, issueField } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { DEFAULT_DECODE_LIMITS, formatBytes } from '../io/limits.js';
import { loadData, loadLabels } from '../io/load.js';
import { calibrateParamsSchema, describeParamsSchema, detectorSpecFromParams, driftParamsSchema, fitParamsSchema, predictParamsSchema, retentionPolicySchema } from '../schemas.js';
import { calibrateDetector, calibrateLabelFree, driftCheck, fitDetector, predictData } from '../service/detector-service.js';
import { fitSpread } from '../service/fit-runner.js';
import { sha256Hex } from '../hash.js';
import { closeExtractors } from '../service/extractor-cache.js';
import { DetectorRepository } from '../storage/detector-repository.js';
import { LocalDirStore, writeFileAtomic } from '../storage/local-dir-store.js';

/**
 * `imagedrift` command line. Bad input → exit code 2 and one line on stderr; other failures → exit code 1.
 * The detector directory uses the same layout as the S3 store: v<n>/manifest.json + arrays, current.json, model.onnx.
 */
const USAGE = `usage:
  imagedrift convert-ckpt <file.ckpt> --out <model.onnx> [--json]
  imagedrift fit --model <model.onnx> --train <data> --layer <name> --n-cluster <k> [--score <mode>] [--seed <n>] [--layout NCHW|NHWC] [--scale <s>] [--batch-size <n>] --out <detector-dir> [--json]
  imagedrift fit ... --detector msp|energy|mahalanobis|knn [--temperature <T>] [--shrinkage ledoit-wolf|<s>] [--k <k>] [--metric cosine|l2] [--max-bank <n>]
  imagedrift fit --model <m> --train <data> --layer <name> --detector auto --out <dir>   (the measured default for the layer; seed LeNet5 only)
  imagedrift fit --model <m> --train <data> --detector ensemble --members '[{"layer":"output","detector":{"kind":"energy"}},…]' --out <dir>
  imagedrift calibrate <detector-dir> --eval <data> --ood-labels <labels> [--grid 0.01] [--reference-rows 1000] [--json]
  imagedrift calibrate <detector-dir> --id-holdout <data> --target-fpr <alpha> [--reference-rows 1000] [--json]
  imagedrift predict <detector-dir> --data <data> [--threshold <t>] [--json]
  imagedrift evaluate <detector-dir> --id <data> --ood <data> [--json]
  imagedrift report <detector-dir> --id <data> --ood <data> --out <dir> [--json]
  imagedrift drift <detector-dir> --data <data> [--reference <data>] [--test mmd|ks|binomial] [--alpha 0.05] [--permutations 500] [--seed <n>] [--json]
  imagedrift describe <detector-dir> [--version <n>] [--json]
  imagedrift prune <detector-dir> [--keep-versions 10] [--min-age 7] [--dry-run] [--json]
  imagedrift demo [--json]
  imagedrift keygen --tenant <tenant> [--id <key-id>] [--json]
<data>: .npy, .npz, MNIST IDX (.gz or plain), CIFAR-10 .bin, a PNG/JPEG file or a folder of them.
<labels>: .npy of 0/1 (any numeric dtype) or a JSON array.`;

const MODEL_KEY = 'model.onnx';

class UsageError extends InputError {}

type Opts = Record<string, string | boolean | undefined>;

/**
 * `--flag -0.5`: a value that is a negative number (msp and energy thresholds are negative) belongs to the flag before
 * it. node's parseArgs would read it as an unknown option; `--flag=-0.5` always works too.
 */
function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = /^--([^=]+)$/.exec(a)?.[1];
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>, positionals: number): { values: Opts; positionals: string[] } {
  let r;
  const all = { ...options, json: { type: 'boolean' as const } };
  try {
    r = parseArgs({ args: joinNegativeValues(args, all), options: all, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError('arguments', (e as Error).message.replace(/\s+/g, ' ').replace(/\s*To specify.*$/, ''));
  }
  // A repeated flag is a mistake to report, not a value to pick silently (parseArgs keeps the last).
  const seen = new Set<string>();
  for (const t of r.tokens) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name}`, 'is given more than once');
    seen.add(t.name);
  }
  if (r.positionals.length !== positionals) {
    throw new UsageError('arguments', `expected ${positionals} positional argument(s), got ${r.positionals.length}${r.positionals.length ? ` (${r.positionals.join(' ')})` : ''}`);
  }
  return { values: r.values as Opts, positionals: r.positionals };
}

function need(values: Opts, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name}`, 'is required');
  return v;
}

/** Validates CLI options with the shared message schema, naming the flag in errors (and the path inside a JSON flag: `--members[0].layer`). */
function validate<T extends z.ZodTypeAny>(schema: T, input: Record<string, unknown>, flags: Record<string, string>): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const flag = flags[String(issue.path[0] ?? '')];
    throw new UsageError(flag !== undefined ? issueField({ ...issue, path: issue.path.slice(1) }, flag) : issueField(issue, '', 'arguments'), issue.message);
  }
  return r.data;
}

/**
 * Loads the data a flag names. `file.npz#key` picks one array of a multi-array .npz. Decoder errors are reported
 * against the flag (`--ood: data[7]: …`), so a command reading two inputs says which one is bad.
 */
async function loadDataFlag(values: Opts, name: string): Promise<DecodedArray> {
  const spec = need(values, name);
  const m = /^(.*\.npz)#(.+)$/i.exec(spec);
  const path = m ? m[1]! : spec;
  return asFlag(`--${name}`, () => loadData(path, m ? { npzKey: m[2]! } : {}), basename(path));
}

/** Loads the 0/1 label file a flag names; every error about it is reported against the flag (`--ood-labels: labels[7]: …`). */
async function loadLabelsFlag(values: Opts, name: string): Promise<number[]> {
  const path = need(values, name);
  try {
    return await loadLabels(path);
  } catch (e) {
    if (!(e instanceof InputError) || e instanceof UsageError) throw e;
    const where = e.field && e.field !== 'path' && e.field !== basename(path) ? `${e.field}: ` : '';
    throw new UsageError(`--${name}`, `${where}${e.detail}`, { cause: e });
  }
}

/**
 * Runs `fn`; an input error about the data it reads (field data…/path…/npzKey, or a field the decoder named after the
 * file, `x.npy.header.descr`) is re-raised against `flag`.
 */
async function asFlag<T>(flag: string, fn: () => Promise<T>, file?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof InputError && !(e instanceof UsageError) && /\.npz\.key$/i.test(e.field ?? '')) {
      throw new UsageError(flag, `${e.detail.replace(/with a key \(npzKey\)/, 'with file.npz#<key>')}`, { cause: e });
    }
    if (e instanceof InputError && !(e instanceof UsageError) && /^files\[\d+\]$/.test(e.field ?? '')) {
      throw new UsageError(flag, e.detail, { cause: e }); // a folder's image: the file name is in the message
    }
    const named = file !== undefined && e instanceof InputError && (e.field === file || e.field?.startsWith(`${file}.`) || e.field?.startsWith(`${file}[`));
    if (e instanceof InputError && !(e instanceof UsageError) && (named || /^(data|path|npzKey|pixel)?(\[|\.|$)/.test(e.field ?? ''))) {
      const where = e.field && e.field !== 'data' && e.field !== 'path' ? `${e.field}: ` : '';
      throw new UsageError(flag, `${where}${e.detail}`, { cause: e });
    }
    throw e;
  }
}

/** Library field names → the flag a CLI user typed, for errors raised below the CLI (`nCluster: …` → `--n-cluster: …`). */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  nCluster: '--n-cluster', k: '--k', layer: '--layer', threshold: '--threshold', grid: '--grid', targetFpr: '--target-fpr', idHoldout: '--id-holdout',
  oodLabels: '--ood-labels', referenceRows: '--reference-rows', seed: '--seed', batchSize: '--batch-size', maxBank: '--max-bank', temperature: '--temperature',
  shrinkage: '--shrinkage', metric: '--metric', members: '--members', alpha: '--alpha', permutations: '--permutations', test: '--test', layout: '--layout',
  reference: '--reference', train: '--train', id: '--id', ood: '--ood', outDir: '--out', version: '--version',
};

/** Fields that name a data argument (a flag whose value is a data file). */
const DATA_FIELDS: ReadonlySet<string> = new Set(['train', 'id', 'ood', 'reference', 'idHoldout']);

function shownField(e: { field?: string | undefined }, isUsage: boolean): string | undefined {
  const f = e.field;
  if (f === undefined || isUsage) return f;
  const head = /^[A-Za-z]+(?=$|\[|\.)/.exec(f)?.[0];
  if (head === undefined || !FIELD_FLAGS[head]) return f;
  // A sample of a data flag reads as the --data one does: `--ood: data[7]`, not `--ood[7]`.
  if (DATA_FIELDS.has(head) && f[head.length] === '[') return `${FIELD_FLAGS[head]}: data${f.slice(head.length)}`;
  return `${FIELD_FLAGS[head]}${f.slice(head.length)}`;
}

/** A model or checkpoint file: a regular file (a FIFO would block forever) of at most maxFileBytes, read whole. */
async function readBytes(path: string, field: string): Promise<Uint8Array> {
  const limit = DEFAULT_DECODE_LIMITS.maxFileBytes;
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new InputError(field, `cannot read ${path}: ${e.code ?? e.message}`);
  });
  if (!st.isFile()) throw new InputError(field, `${path} is not a regular file`);
  if (st.size > limit) throw new InputError(field, `${path} is ${formatBytes(st.size)}, more than maxFileBytes ${formatBytes(limit)}`);
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new InputError(field, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function repoFor(dir: string): DetectorRepository {
  return new DetectorRepository(new LocalDirStore(dir));
}

async function loadDetector(dir: string, warn: (m: string) => void) {
  const repo = repoFor(dir);
  const loaded = await repo.load('');
  for (const w of loaded.warnings) warn(w);
  const model = await repo.modelOf(loaded.bundle, dir);
  return { repo, model, ...loaded };
}

/**
 * An error as one printable line: line breaks fold to a space, and control or bidirectional-override characters (which
 * can come from a file's own bytes, e.g. a dtype string holding an ANSI escape) are shown as \u{…} escapes, so a
 * crafted file cannot rewrite the terminal.
 */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(4);
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  const warn = (m: string) => io.err(`imagedrift: warning: ${m}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  try {
    switch (cmd) {
      case 'convert-ckpt': {
        const { values, positionals } = parse(rest, { out: { type: 'string' } }, 1);
        const out = need(values, 'out');
        const { convertCheckpoint } = await import('../model/lenet5.js');
        const onnx = convertCheckpoint(await readBytes(positionals[0]!, 'ckpt'), { source: basename(positionals[0]!) });
        try {
          await writeFileAtomic(out, onnx);
        } catch (e) {
          throw new UsageError('--out', `cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        io.out(values.json ? JSON.stringify({ out, bytes: onnx.byteLength }) : `wrote ${out} (${onnx.byteLength} bytes)`);
        return 0;
      }
      case 'fit': {
        const flags = { layer: '--layer', method: '--detector', members: '--members', nCluster: '--n-cluster', score: '--score', seed: '--seed', k: '--k', metric: '--metric', maxBank: '--max-bank', temperature: '--temperature', shrinkage: '--shrinkage', layout: '--layout', scale: '--scale', batchSize: '--batch-size' } as const;
        const { values } = parse(rest, { model: { type: 'string' }, train: { type: 'string' }, out: { type: 'string' }, ...Object.fromEntries(Object.values(flags).map((f) => [f.slice(2), { type: 'string' as const }])) }, 0);
        const raw = Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, values[f.slice(2)]]));
        let members: unknown;
        if (typeof raw.members === 'string') {
          try {
            members = JSON.parse(raw.members);
          } catch {
            throw new UsageError('--members', 'must be a JSON array of {"layer":…,"detector":{"kind":…}}');
          }
        }
        const p = validate(fitParamsSchema, { ...raw, members }, flags);
        const method = p.method ?? 'feature-cluster';
        if (method === 'feature-cluster') need(values, 'n-cluster');
        const model = await readBytes(need(values, 'model'), '--model');
        const modelSha = sha256Hex(model);
        let detector;
        try {
          detector = detectorSpecFromParams(p, modelSha);
        } catch (e) {
          if (e instanceof InputError && e.field && e.field in flags) throw new UsageError(flags[e.field as keyof typeof flags], e.detail);
          throw e;
        }
        const outDir = need(values, 'out');
        // Checked before the fit, which can take minutes: --out must be a directory (or not exist yet), and a damaged
        // pointer in it (exit 1, as for any damaged detector) would otherwise fail the save and leave an unpointed version.
        if ((await stat(outDir).catch(() => undefined))?.isDirectory() === false) throw new UsageError('--out', `${outDir} exists and is not a directory`);
        const repo = repoFor(outDir);
        const current = await repo.readPointer('');
        // A detector directory holds one model.onnx, which every version in it was fitted with: a different model
        // would make the earlier versions unloadable (their recorded model sha256 no longer matches).
        const existing = await repo.store.get(MODEL_KEY);
        if (existing && sha256Hex(existing) !== modelSha && current) {
          throw new UsageError('--out', `${outDir} holds detector versions fitted with another model (its model.onnx differs from --model); fit into a new directory`);
        }
        const data = await loadDataFlag(values, 'train');
        const t0 = performance.now();
        // A large feature-cluster fit spreads its KMeans initialisations over the cores (same result, src/service/fit-runner.ts).
        const bundle = await fitDetector({ model, modelKey: MODEL_KEY, data, fitter: fitSpread, ...(p.layer ? { layer: p.layer } : {}), detector, ...(p.layout ? { layout: p.layout } : {}), ...(p.scale !== undefined ? { scale: p.scale } : {}), ...(p.batchSize ? { batchSize: p.batchSize } : {}) }).catch((e: unknown) => {
          // The model file and the training set as a whole are the flags that gave them (`--model: not an ONNX model`).
          if (!isImagedriftError(e) || e instanceof UsageError || (e.field !== 'model' && e.field !== 'features')) throw e;
          throw new UsageError(e.field === 'model' ? '--model' : '--train', e.detail, { cause: e });
        });
        await repo.store.put(MODEL_KEY, model);
        const version = await repo.save('', bundle);
        const f = bundle.fitted;
        const summary = { detector: outDir, version, kind: f.kind, layer: bundle.model.layer, params: f.params, dim: f.dim, nTrain: f.nTrain, stats: f.stats, seconds: (performance.now() - t0) / 1000 };
        io.out(values.json ? JSON.stringify(summary) : `fitted ${outDir} v${version}: ${f.kind} ${JSON.stringify(f.params)} on layer ${summary.layer}, ${f.nTrain}×${f.dim} features (${summary.seconds.toFixed(2)} s)`);
        return 0;
      }
      case 'calibrate': {
        const { values, positionals } = parse(rest, { eval: { type: 'string' }, 'ood-labels': { type: 'string' }, grid: { type: 'string' }, 'id-holdout': { type: 'string' }, 'target-fpr': { type: 'string' }, 'reference-rows': { type: 'string' } }, 1);
        const p = validate(calibrateParamsSchema, { grid: values.grid, targetFpr: values['target-fpr'], referenceRows: values['reference-rows'] }, { grid: '--grid', targetFpr: '--target-fpr', referenceRows: '--reference-rows' });
        const dir = positionals[0]!;
        const labelFree = values['id-holdout'] !== undefined;
        if (labelFree && (values.eval !== undefined || values['ood-labels'] !== undefined || p.grid !== undefined)) throw new UsageError('--id-holdout', 'cannot be combined with --eval/--ood-labels/--grid');
        if (labelFree && p.targetFpr === undefined) throw new UsageError('--target-fpr', 'is required with --id-holdout');
        if (!labelFree && p.targetFpr !== undefined) throw new UsageError('--target-fpr', 'needs --id-holdout');
        const dataFlag = labelFree ? 'id-holdout' : 'eval';
        const data = await loadDataFlag(values, dataFlag);
        const labels = labelFree ? undefined : await loadLabelsFlag(values, 'ood-labels');
        const d = await loadDetector(dir, warn);
        const ref = p.referenceRows !== undefined ? { referenceRows: p.referenceRows } : {};
        const { bundle } = await asFlag(`--${dataFlag}`, () =>
          labels
            ? calibrateDetector(d.bundle, d.model, { data, oodLabels: labels, ...(p.grid !== undefined ? { grid: p.grid } : {}), ...ref })
            : calibrateLabelFree(d.bundle, d.model, { idHoldout: data, targetFpr: p.targetFpr!, ...ref }),
        );
        const version = await d.repo.save('', bundle);
        const c = bundle.calibration!;
        const out = { threshold: c.threshold, ...(c.accuracy !== undefined ? { accuracy: c.accuracy } : {}), ...(c.targetFpr !== undefined ? { targetFpr: c.targetFpr, n: c.nEval } : {}), method: c.method, version };
        io.out(values.json ? JSON.stringify(out) : `calibrated ${dir} v${version}: threshold ${c.threshold} (${c.method})${c.accuracy !== undefined ? `, eval accuracy ${fmt(c.accuracy)}` : `, target false-alarm rate ${c.targetFpr} from ${c.nEval} held-out ID samples`}`);
        return 0;
      }
      case 'predict': {
        const { values, positionals } = parse(rest, { data: { type: 'string' }, threshold: { type: 'string' } }, 1);
        const p = validate(predictParamsSchema, { threshold: values.threshold }, { threshold: '--threshold' });
        const data = await loadDataFlag(values, 'data');
        const d = await loadDetector(positionals[0]!, warn);
        const r = await asFlag('--data', () => predictData(d.bundle, d.model, data, p.threshold !== undefined ? { threshold: p.threshold } : {}));
        if (values.json) io.out(JSON.stringify({ threshold: r.threshold, result: r.result, scores: r.scores, ...(r.pValues ? { pValues: r.pValues } : {}), detectorVersion: d.version }));
        else {
          const flagged = r.result.reduce((a, b) => a + b, 0);
          io.out(`threshold ${r.threshold}; ${flagged} of ${r.result.length} flagged as OOD`);
          io.out(`result ${JSON.stringify(r.result)}`);
        }
        return 0;
      }
      case 'evaluate': {
        const { values, positionals } = parse(rest, { id: { type: 'string' }, ood: { type: 'string' } }, 1);
        const id = await loadDataFlag(values, 'id');
        const ood = await loadDataFlag(values, 'ood');
        const d = await loadDetector(positionals[0]!, warn);
        const { evaluateOnData } = await import('../service/evaluate.js');
        const ev = await evaluateOnData(d.bundle, d.model, { id, ood });
        const m = ev.metrics;
        // Every threshold-free metric (OOD = positive), then the accuracy at the detector's own threshold.
        const res = { auroc: m.auroc, fpr95: m.fpr95, threshold95: m.threshold95, auprIn: m.auprIn, auprOut: m.auprOut, detectionAccuracy: m.detectionAccuracy, accuracy: ev.accuracy, threshold: ev.threshold.value, thresholdSource: ev.threshold.source, thresholdDetail: ev.threshold.detail, nId: m.nId, nOod: m.nOod };
        io.out(
          values.json
            ? JSON.stringify(res)
            : `AUROC ${fmt(m.auroc)}  FPR@95TPR ${(m.fpr95 * 100).toFixed(2)}%  AUPR-In ${fmt(m.auprIn)}  AUPR-Out ${fmt(m.auprOut)}  detection accuracy ${fmt(m.detectionAccuracy)}; accuracy ${fmt(ev.accuracy)} at threshold ${res.threshold} (${ev.threshold.detail}); ${m.nId} ID, ${m.nOod} OOD`,
        );
        return 0;
      }
      case 'report': {
        const { values, positionals } = parse(rest, { id: { type: 'string' }, ood: { type: 'string' }, out: { type: 'string' } }, 1);
        const [idPath, oodPath, outDir] = [need(values, 'id'), need(values, 'ood'), need(values, 'out')];
        const [id, ood] = [await loadDataFlag(values, 'id'), await loadDataFlag(values, 'ood')];
        const d = await loadDetector(positionals[0]!, warn);
        const { reportOnData } = await import('../report/run.js');
        const { writeReport } = await import('../report/report.js');
        const r = await reportOnData(d.bundle, d.model, { id, ood, title: `imagedrift report: ${basename(positionals[0]!)}`, sources: { detector: positionals[0]!, id: idPath, ood: oodPath } });
        const path = await writeReport(outDir, r.html);
        io.out(values.json ? JSON.stringify({ out: path, auroc: r.metrics.auroc, fpr95: r.metrics.fpr95, threshold: r.threshold.value, thresholdSource: r.threshold.source }) : path);
        return 0;
      }
      case 'drift': {
        const { values, positionals } = parse(rest, { reference: { type: 'string' }, data: { type: 'string' }, test: { type: 'string' }, alpha: { type: 'string' }, permutations: { type: 'string' }, seed: { type: 'string' } }, 1);
        const p = validate(driftParamsSchema, { test: values.test, alpha: values.alpha, permutations: values.permutations, seed: values.seed }, { test: '--test', alpha: '--alpha', permutations: '--permutations', seed: '--seed' });
        const test = p.test ?? 'mmd';
        const data = await loadDataFlag(values, 'data');
        const reference = typeof values.reference === 'string' ? await loadDataFlag(values, 'reference') : undefined;
        const d = await loadDetector(positionals[0]!, warn);
        const r = await asFlag('--data', () => driftCheck(d.bundle, d.model, { test, data, ...(reference ? { reference } : {}), ...(p.alpha !== undefined ? { alpha: p.alpha } : {}), ...(p.permutations !== undefined ? { permutations: p.permutations } : {}), ...(p.seed !== undefined ? { seed: p.seed } : {}) }));
        io.out(values.json ? JSON.stringify({ isDrift: r.isDrift, pValue: r.pValue, statistic: r.statistic, test: r.test, alpha: r.alpha, meta: r.meta }) : `${r.isDrift ? 'DRIFT' : 'no drift'}: ${r.test} test, p = ${r.pValue.toPrecision(4)} (alpha ${r.alpha}), statistic ${r.statistic.toPrecision(4)}`);
        return 0;
      }
      case 'describe': {
        // The version's manifest only (no arrays, no model): the same description as GET /detectors/{id}.
        const { values, positionals } = parse(rest, { version: { type: 'string' } }, 1);
        const p = validate(describeParamsSchema, { version: values.version }, { version: '--version' });
        const dir = positionals[0]!;
        const [{ describeDetector }, { formatDescription }] = await Promise.all([import('../service/describe.js'), import('./describe.js')]);
        const d = await describeDetector(new LocalDirStore(dir), { id: dir, prefix: '', ...(p.version !== undefined ? { version: p.version } : {}) });
        io.out(values.json ? JSON.stringify(d) : formatDescription(d, oneLine));
        return 0;
      }
      case 'prune': {
        // Deletes old versions of a detector directory (src/storage/retention.ts, versions and crashed saves only):
        // never the current one or any above it, never the --keep-versions newest below it, never one younger than
        // --min-age days. The manifest first, then the arrays.
        const { values, positionals } = parse(rest, { 'keep-versions': { type: 'string' }, 'min-age': { type: 'string' }, 'dry-run': { type: 'boolean' } }, 1);
        const p = validate(retentionPolicySchema, { keepVersions: values['keep-versions'], versionMinAge: values['min-age'] }, { keepVersions: '--keep-versions', versionMinAge: '--min-age' });
        const dir = positionals[0]!;
        const [{ pruneDetector }, { retentionPolicy }] = await Promise.all([import('../service/retention.js'), import('../storage/retention.js')]);
        const policy = retentionPolicy({ ...(p.keepVersions !== undefined ? { keepVersions: p.keepVersions } : {}), ...(p.versionMinAge !== undefined ? { versionMinAge: p.versionMinAge } : {}) });
        const dryRun = Boolean(values['dry-run']);
        const r = await pruneDetector(new LocalDirStore(dir), '', { policy, now: new Date(), dryRun });
        if (r.error !== undefined) throw r.error;
        const versionsOf = (rule: string) => [...new Set(r.deleted.filter((d) => d.rule === rule).map((d) => Number(/^v(\d+)\//.exec(d.key)![1])))];
        const bytes = r.deleted.reduce((a, d) => a + d.size, 0);
        const out = { detector: dir, dryRun, current: r.current, versions: versionsOf('versions'), crashedSaves: versionsOf('crashedSaves'), files: r.deleted.length, bytes, keepVersions: policy.keepVersions, minAgeDays: policy.versionMinAge };
        const list = (vs: number[]) => (vs.length ? vs.map((v) => `v${v}`).join(', ') : 'none');
        io.out(values.json ? JSON.stringify(out) : `${dryRun ? 'would prune' : 'pruned'} ${dir} (current v${r.current}): versions ${list(out.versions)}; unfinished saves ${list(out.crashedSaves)}; ${out.files} files, ${formatBytes(bytes)}`);
        return 0;
      }
      case 'keygen': {
        // A new API key for the service: the key is printed once (give it to the tenant); only the entry (its hash)
        // goes into API_KEYS or the API_KEYS_OBJECT keyring.
        const { values } = parse(rest, { tenant: { type: 'string' }, id: { type: 'string' } }, 0);
        const [{ generateApiKey, hashApiKey, keyringEntrySchema, tenantIdSchema }, { randomBytes }] = await Promise.all([import('../auth/api-keys.js'), import('node:crypto')]);
        const key = generateApiKey();
        const { tenant } = validate(z.object({ tenant: tenantIdSchema }), { tenant: need(values, 'tenant') }, { tenant: '--tenant' });
        // Default id: tenant (cut to fit), date and a random suffix, so two keys made for one tenant on one day (a
        // rotation) never share an id, which would make the keyring invalid for every tenant.
        const defaultId = () => `${tenant.slice(0, 38)}-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
        const entry = validate(keyringEntrySchema, { id: values.id ?? defaultId(), tenant, sha256: hashApiKey(key) }, { id: '--id', tenant: '--tenant' });
        io.out(values.json ? JSON.stringify({ key, entry }) : `key (give it to the tenant; it is not stored): ${key}\nkeyring entry (add it to API_KEYS or the API_KEYS_OBJECT array): ${JSON.stringify(entry)}`);
        return 0;
      }
      case 'demo': {
        const { values } = parse(rest, {}, 0);
        const { runDemo } = await import('./demo.js');
        await runDemo(io, Boolean(values.json));
        return 0;
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError('command', `unknown command '${cmd}'; expected convert-ckpt, fit, calibrate, predict, evaluate, report, drift, describe, prune, keygen or demo`);
    }
  } catch (e) {
    if (isImagedriftError(e)) {
      const field = shownField(e, e instanceof UsageError);
      io.err(`imagedrift: error: ${oneLine(`${field ? `${field}: ` : ''}${e.detail}`)}`);
      return e.code === 'STORAGE_ERROR' ? 1 : 2;
    }
    io.err(`imagedrift: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  } finally {
    await closeExtractors();
  }
}
