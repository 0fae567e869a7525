import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding imagedrift's package.json), from src/ under tsx, dist/src/ or the CLI bundle dist/cli.mjs. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'imagedrift') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('imagedrift package root not found');
    dir = up;
  }
}

/** Path of a file shipped with the package (models/lenet5.onnx, data/seed-demo.npz). */
export function assetPath(rel: string): string {
  return join(packageRoot(), rel);
}
