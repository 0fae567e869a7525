/** Escapes text for HTML/SVG element content and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  let out = '';
  for (const ch of s) {
    switch (ch) {
      case '&':
        out += '&amp;';
        break;
      case '<':
        out += '&lt;';
        break;
      case '>':
        out += '&gt;';
        break;
      case '"':
        out += '&quot;';
        break;
      case "'":
        out += '&#39;';
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/** A number for people: 4 significant digits, no trailing zeros, exponent form only for very large/small values. */
export function fmtNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  if (a >= 10 ** digits) return String(Math.round(v));
  const s = v.toPrecision(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** A rate in [0, 1] as a percentage with two decimals. */
export function fmtPercent(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
