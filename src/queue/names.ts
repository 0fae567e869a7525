/** BullMQ names. Every process (handlers, workers) shares one queue; the Redis key prefix comes from QUEUE_PREFIX. */
export const QUEUE_NAME = 'imagedrift';

const JOB_NAMES = ['fit', 'calibrate', 'predict'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export function isJobName(s: string): s is JobName {
  return (JOB_NAMES as readonly string[]).includes(s);
}
