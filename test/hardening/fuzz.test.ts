/**
 * Property tests: random and mutated inputs (see `fuzz-targets.ts`) for every decoder. The only allowed outcomes are
 * success or a typed ImagedriftError; any other exception, a promise that does not settle within the time bound, or a
 * call slower than it fails the property, and fast-check shrinks the input. Fixed seeds, 200 runs per target: the
 * same inputs on every run. The long campaign with the same targets is `npm run fuzz`.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { classify, describeInput, fuzzCases, FUZZ_TARGETS, loadSeeds, materialize, type Seeds } from './fuzz-targets.js';

const RUNS = 200;
/** Per-call bound; generous because the test shares two cores with other work. */
const CALL_MS = 3000;
/** Per-target budget: the property stops (as a pass) after this, so the whole file stays well under a minute. */
const TARGET_MS = 8000;
const SEED = 20240601;

describe('fuzzing: every decoder succeeds or throws a typed ImagedriftError', () => {
  let seeds: Seeds;
  before(async () => {
    seeds = await loadSeeds();
  });

  FUZZ_TARGETS.forEach((target, i) => {
    it(`${target.name}: ${RUNS} random and mutated inputs`, async () => {
      // The seeds themselves must decode (also warms up lazy imports such as sharp before timing calls).
      for (const bytes of target.seeds(seeds)) {
        for (const name of target.names ?? ['input']) {
          const out = await classify(target, bytes, name);
          assert.notEqual(out.kind, 'failure', `seed ${describeInput(bytes, name)}: ${out.kind === 'failure' ? String(out.error) : ''}`);
        }
      }
      assert.equal((await classify(target, target.seeds(seeds)[0]!, target.names?.[0] ?? 'input')).kind, 'ok', 'the first seed decodes');
      let typed = 0;
      let ok = 0;
      await fc.assert(
        fc.asyncProperty(fuzzCases(), async (c) => {
          const { bytes, name } = materialize(target, seeds, c);
          const out = await classify(target, bytes, name);
          if (out.kind === 'failure') {
            throw new Error(`untyped ${out.error instanceof Error ? `${out.error.constructor.name}: ${out.error.message}` : String(out.error)} on ${describeInput(bytes, name)}`, { cause: out.error });
          }
          if (out.ms > CALL_MS) throw new Error(`took ${out.ms.toFixed(0)} ms (bound ${CALL_MS} ms) on ${describeInput(bytes, name)}`);
          if (out.kind === 'typed') typed++;
          else ok++;
        }),
        { seed: SEED + i, numRuns: RUNS, plugins: [fc.timeout(CALL_MS), fc.interruptAfterTimeLimit(TARGET_MS)] },
      );
      // Not a vacuous run: the generator reaches the decoders' error paths.
      assert.ok(typed > 0, `${target.name}: no typed errors in ${ok} runs`);
    });
  });
});
