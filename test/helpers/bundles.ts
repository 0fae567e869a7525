/** A minimal saved-detector bundle around a fitted detector, for tests of the bundle format and repositories. */
import type { DetectorBundle } from '../../src/core/bundle.js';
import type { FittedDetector } from '../../src/core/detector.js';
import { defaultPreprocess } from '../../src/core/preprocess.js';
import { LIBRARY_VERSION } from '../../src/version.js';

export function bundleOf(fitted: FittedDetector): DetectorBundle {
  return {
    model: { key: 'model.onnx', sha256: 'a'.repeat(64), layer: '9', batchSize: 256 },
    preprocess: defaultPreprocess({ channels: 1, height: 32, width: 32 }),
    fitted,
    createdAt: '2026-01-01T00:00:00.000Z',
    libraryVersion: LIBRARY_VERSION,
  };
}
