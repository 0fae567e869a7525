/**
 * Natural, locale-independent ordering of file names: runs of ASCII digits compare by numeric value (`img2` < `img10`),
 * everything else compares by UTF-16 code unit (so `B` < `a`, independent of the machine's locale). Names that tie
 * numerically (`img02` vs `img2`) fall back to plain code-unit order, so the order is total and deterministic.
 */
export function naturalCompare(a: string, b: string): number {
  const ta = a.split(/(\d+)/);
  const tb = b.split(/(\d+)/);
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    // split() with a capture group puts digit runs at odd indexes.
    if (i % 2 === 1) {
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (ta.length !== tb.length) return ta.length - tb.length;
  return a === b ? 0 : a < b ? -1 : 1;
}

