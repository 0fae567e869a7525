/** A failure kept in its item's place by `mapSettledBounded`. */
export interface Failed {
  readonly error: unknown;
}

/**
 * Runs `fn` over `items`, at most `width` calls at a time, and returns the results in item order, each failure kept
 * in its place as `{ error }`. Every item runs, so a caller that reports the first failure in item order reports the
 * same one whatever order the calls finished in.
 */
export async function mapSettledBounded<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<(R | Failed)[]> {
  const results: (R | Failed)[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        results[i] = { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

/** `mapSettledBounded`, then the first failure in item order is thrown as it was raised; otherwise the results. */
export async function mapBounded<T, R>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const settled = await mapSettledBounded(items, width, async (item, i) => ({ value: await fn(item, i) }));
  return settled.map((r) => {
    if ('error' in r) throw r.error;
    return r.value;
  });
}
