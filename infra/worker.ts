/**
 * The worker process: `node --import tsx infra/worker.ts` (or the compiled `node dist/infra/worker.js`).
 * Configuration comes from the environment (src/config.ts); SIGTERM/SIGINT finish the active job and exit.
 * Deployment on GPU nodes: infra/imagedrift-worker.service (systemd) and infra/Dockerfile.worker.
 */
import { loadConfig } from '../src/config.js';
import { isImagedriftError } from '../src/core/errors.js';
import { startWorker } from '../src/queue/worker.js';

/**
 * Exit status of a configuration error (sysexits' EX_CONFIG): no restart can fix it, so the systemd unit does not
 * restart on it (RestartPreventExitStatus) and a supervisor can tell it from a crash (1), which a restart may fix.
 */
const EXIT_CONFIG = 78;

try {
  await startWorker(loadConfig(process.env));
} catch (e) {
  const config = isImagedriftError(e);
  process.stderr.write(`imagedrift-worker: ${config ? `configuration error: ${e.message}` : ((e as Error)?.stack ?? String(e))}\n`);
  process.exit(config ? EXIT_CONFIG : 1);
}
