import type { DetectorDescription } from '../schemas.js';

/**
 * `imagedrift describe` without --json: the description (detectorDescriptionSchema) as labelled lines. `oneLine` makes
 * each value one printable line (a manifest is a file: its strings may hold line breaks or terminal escapes).
 */
export function formatDescription(d: DetectorDescription, oneLine: (s: string) => string): string {
  const size = (n: number) => (n >= 1024 ** 2 ? `${+(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} B`);
  const p = d.preprocessing;
  const c = d.calibration;
  const lines: [string, string][] = [
    ['detector', `${d.id} v${d.version}${d.version === d.currentVersion ? ' (current)' : ` (current: v${d.currentVersion})`}`],
    ['fit', d.fitVersion === null && d.fitId === null ? 'not recorded (saved before fit ids)' : `v${d.fitVersion ?? '?'}${d.fitId ? `, fit id ${d.fitId.slice(0, 16)}…` : ''}`],
    ['created', `${d.createdAt} by imagedrift ${d.libraryVersion} (detector format ${d.formatVersion})`],
    ['model', `${d.model.id ?? 'model.onnx'} sha256 ${d.model.sha256}, batch size ${d.model.batchSize}`],
    ['layer', d.layer],
    [
      'input',
      `${p.input.channels}×${p.input.height}×${p.input.width} (C×H×W), layout ${p.layout ?? 'read off each input'}, scale ${p.scale === 'auto' ? 'auto (integers ÷255, floats as they are)' : p.scale}, grey ${p.grey}, resize ${p.resize}, range [${p.range.join(', ')}]`,
    ],
    ['kind', `${d.detector.kind} ${JSON.stringify(d.detector.params)}; ${d.detector.nTrain} training rows × ${d.detector.dim} features`],
    [
      'calibration',
      c === null
        ? 'none (predict needs --threshold until the detector is calibrated)'
        : `${c.kind} (${c.method}${c.grid !== null ? ` ${c.grid}` : ''}): threshold ${c.threshold}, ${
            c.kind === 'labelled' ? `eval accuracy ${c.accuracy} on ${c.nEval} samples (${c.nOod} OOD)` : `target false-alarm rate ${c.targetFpr} from ${c.nEval} held-out ID samples`
          }; ${c.scores} ID scores and ${c.referenceRows || 'no'} reference feature rows stored`,
    ],
    ['arrays', Object.entries(d.arrays).map(([name, a]) => `${name} [${a.shape.join(',')}] ${a.dtype} ${size(a.bytes)}`).join('; ') || 'none'],
  ];
  return lines.map(([k, v]) => `${k.padEnd(12)} ${oneLine(v)}`).join('\n');
}
