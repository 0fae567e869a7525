/** LocalDirStore and S3Store (over a real s3rver) run the same ObjectStore contract suite. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { startTestS3 } from '../helpers/s3.js';
import { objectStoreContract } from './object-store-contract.js';

objectStoreContract('LocalDirStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-store-'));
  return { store: new LocalDirStore(dir), root: '', teardown: () => rm(dir, { recursive: true, force: true }) };
});

objectStoreContract('S3Store (s3rver)', async () => {
  const s3 = await startTestS3();
  return { store: s3.store, root: s3.prefix(), teardown: () => s3.stop() };
});
