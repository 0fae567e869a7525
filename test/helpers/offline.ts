/**
 * `serverless offline` on loopback, stage `local` (the only stage whose functions read the local S3 endpoint and keys
 * from the environment: serverless.yml `params.local`), on free ports. Used by test/e2e/serverless-offline.test.ts and
 * by the service benchmark and load run (benchmarks/lib/offline.ts), so both start it the same way.
 */
import { join } from 'node:path';
import { REPO } from './paths.js';
import { freePort, startChild, stopChild, type Child } from './procs.js';

export interface ServerlessOffline {
  readonly base: string;
  readonly child: Child;
  stop(): Promise<void>;
}

export async function startServerlessOffline(env: NodeJS.ProcessEnv, readyTimeoutMs = 240_000): Promise<ServerlessOffline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const args = [join(REPO, 'node_modules/serverless/bin/serverless.js'), 'offline', '--stage', 'local', '--host', '127.0.0.1', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)];
  const child = startChild(process.execPath, args, { cwd: REPO, env: { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_INTERACTIVE_SETUP_DISABLE: '1', ...env }, name: 'serverless offline' });
  try {
    await child.waitFor(/Server ready: http:\/\/127\.0\.0\.1:\d+/, readyTimeoutMs);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return { base: `http://127.0.0.1:${httpPort}`, child, stop: () => stopChild(child) };
}
