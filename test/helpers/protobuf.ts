/** Protobuf wire-format writers for hand-built (often hostile) test messages: no schema, just tags and lengths. */

/** A base-128 varint. */
export function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field (wire type 2): a message, string, bytes or packed array. */
export function ld(field: number, body: Uint8Array): Uint8Array {
  const head = [...varint((field << 3) | 2), ...varint(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** `count` empty messages in field `field`, 2 bytes each. */
export function emptyMessages(field: number, count: number): Uint8Array {
  const out = new Uint8Array(2 * count);
  for (let i = 0; i < count; i++) out[2 * i] = (field << 3) | 2;
  return out;
}
