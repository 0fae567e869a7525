import { InputError } from './errors.js';

/** Seeded uniform [0,1) generator (mulberry32): the one source of randomness in the core, so results are reproducible. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from strings (FNV-1a): stable across runs and platforms, for seeds derived from names and keys. */
export function seedFrom(...parts: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    for (const ch of new TextEncoder().encode(`${part}\u0000`)) {
      h ^= ch;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h;
}

/** Seeded subsample of m of n row indices, in increasing order (mulberry32 + partial Fisher–Yates). */
export function subsampleRows(n: number, m: number, seed: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  if (m >= n) return idx;
  const rnd = mulberry32(seed);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.subarray(0, m).sort();
}

/**
 * A seeded uniform sample of at most `capacity` rows from a stream of row blocks (reservoir sampling, Algorithm R),
 * in bounded memory: every row seen so far is in the sample with probability capacity / seen. `sample()` returns
 * the kept rows in arrival order, so the same stream and seed give the same sample.
 */
export class RowReservoir {
  private readonly data: Float32Array;
  private readonly arrival: Float64Array;
  private readonly rnd: () => number;
  private filled = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    readonly cols: number,
    seed: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new InputError('capacity', `must be a positive integer, got ${capacity}`);
    this.data = new Float32Array(capacity * cols);
    this.arrival = new Float64Array(capacity);
    this.rnd = mulberry32(seed);
  }

  /** Rows seen so far (kept or not). */
  get seen(): number {
    return this.count;
  }

  add(block: { readonly data: Float32Array; readonly rows: number; readonly cols: number }): void {
    if (block.cols !== this.cols) throw new InputError('rows', `have ${block.cols} columns; the reservoir holds ${this.cols}`);
    const c = this.cols;
    for (let r = 0; r < block.rows; r++, this.count++) {
      const slot = this.filled < this.capacity ? this.filled++ : Math.floor(this.rnd() * (this.count + 1));
      if (slot >= this.capacity) continue;
      this.data.set(block.data.subarray(r * c, (r + 1) * c), slot * c);
      this.arrival[slot] = this.count;
    }
  }

  /** The kept rows (min(seen, capacity)), in arrival order. */
  sample(): { data: Float32Array; rows: number; cols: number } {
    const n = this.filled;
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => this.arrival[a]! - this.arrival[b]!);
    const out = new Float32Array(n * this.cols);
    order.forEach((slot, i) => out.set(this.data.subarray(slot * this.cols, (slot + 1) * this.cols), i * this.cols));
    return { data: out, rows: n, cols: this.cols };
  }
}
