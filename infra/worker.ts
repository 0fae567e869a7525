/**
 * The worker process: `node --import tsx infra/worker.ts` (or the compiled `node dist/infra/worker.js`).
 * Configuration comes from the environment (src/config.ts); SIGTERM/SIGINT finish the active job and exit.
 * Deployment on GPU nodes: infra/imagedrift-worker.service (systemd) and infra/Dockerfile.worker.
 */
import { loadConfig } from '../src/config.js';
import { isImagedriftError } from '../src/core/errors.js';
import { startWorker } from '../src/queue/worker.js';

try {
  await startWorker(loadConfig(process.env));
} catch (e) {
  process.stderr.write(`imagedrift-worker: ${isImagedriftError(e) ? `configuration error: ${e.message}` : ((e as Error)?.stack ?? String(e))}\n`);
  process.exit(1);
}
