/** Filesystem locations the tests read from. `shared/` sits beside the repository (as in CI's fresh clone). */
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const SEED = fileURLToPath(new URL('../../../shared/seed-example/', import.meta.url));
export const DATASETS = fileURLToPath(new URL('../../../shared/datasets/', import.meta.url));
