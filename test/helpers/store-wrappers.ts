/** ObjectStore wrappers for tests that watch what the code under test does to the real store. */
import type { ObjectStore } from '../../src/storage/object-store.js';

/** The real store, recording every method called on it (a call is `name(first argument)`). */
export function recording(store: ObjectStore): { store: ObjectStore; calls: string[] } {
  const calls: string[] = [];
  const watched: ObjectStore = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)}(${JSON.stringify(args[0])})`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: watched, calls };
}
