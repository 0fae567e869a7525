import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAME } from './names.js';

/**
 * A BullMQ Queue on a shared, fail-fast connection that is replaced when its connection setup failed.
 *
 * BullMQ sets a Queue's connection up once, when the Queue is made (it waits for the connection, then asks Redis its
 * version): if that fails, for example Redis stops answering just after the connection came up and the version
 * request times out (`commandTimeout`) or runs out of retries, every later call on that Queue rejects with the same
 * error, for ever, although the connection itself recovers. A cached job client (one per Lambda container) then
 * answered 503 to every job request until the container was recycled, and the worker's re-ranks (fair-order.ts) all
 * failed until a restart. `get()` hands out the current Queue, and a new one once the current one's setup has failed;
 * the failed one is closed (the shared connection stays open). The call that met the failure still fails; the next one
 * goes through once Redis answers.
 */
export class RenewingQueue {
  private current: Queue;
  private failed = false;
  /** How many Queues were made (1 + replacements), for tests and logs. */
  made = 0;

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly defaultJobOptions?: DefaultJobOptions,
  ) {
    this.current = this.make();
  }

  /** The Queue to use now. */
  get(): Queue {
    if (this.failed) {
      const old = this.current;
      this.current = this.make();
      void old.close().catch(() => undefined);
    }
    return this.current;
  }

  /** Closes the current Queue (not the shared connection). */
  async close(): Promise<void> {
    await this.current.close();
  }

  private make(): Queue {
    this.failed = false;
    this.made++;
    const q = new Queue(QUEUE_NAME, { connection: this.connection, prefix: this.prefix, ...(this.defaultJobOptions ? { defaultJobOptions: this.defaultJobOptions } : {}) });
    // Connection errors reach callers as rejected calls (ioredis reconnects by itself). The Queue re-emits each one as
    // an 'error' event; with no listener BullMQ prints it with console.error (every reconnect attempt while Redis is
    // down), so it is consumed here.
    q.on('error', () => undefined);
    q.waitUntilReady().catch(() => {
      if (this.current === q) this.failed = true;
    });
    return q;
  }
}
