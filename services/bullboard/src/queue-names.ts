/**
 * Which BullMQ queue names the board shows, and how they are recognised among Redis keys. Names come from three
 * places: the protocol package (ALL_QUEUES), BULLBOARD_QUEUES, and Redis itself (a producer may create a queue the
 * board has never heard of). A name found in Redis is data, so it has to pass the same pattern as a configured one.
 */

import { QUEUE_NAME_PATTERN } from "@patchmon-ws/protocol";

export { QUEUE_NAME_PATTERN };

/** Key prefixes BullMQ accepts here: the glob characters of SCAN MATCH (`*?[]\`) can never appear. */
export const BULLMQ_PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function isQueueName(value: string): boolean {
  return QUEUE_NAME_PATTERN.test(value);
}

/**
 * The SCAN MATCH pattern that finds every queue's `<prefix>:<name>:meta` and `<prefix>:<name>:id` keys in one pass.
 * It also matches some job keys (job ids starting with "me"/"id"); `queueNameFromKey` filters those out exactly.
 */
export function discoveryPattern(prefix: string): string {
  if (!BULLMQ_PREFIX_PATTERN.test(prefix)) throw new Error(`invalid BullMQ prefix ${JSON.stringify(prefix)}`);
  return `${prefix}:*:[mi][ed]*`;
}

/** The queue name in a `<prefix>:<name>:meta` or `<prefix>:<name>:id` key; undefined for any other key. */
export function queueNameFromKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(`${prefix}:`)) return undefined;
  const rest = key.slice(prefix.length + 1);
  const separator = rest.lastIndexOf(":");
  if (separator <= 0) return undefined;
  const suffix = rest.slice(separator + 1);
  if (suffix !== "meta" && suffix !== "id") return undefined;
  const name = rest.slice(0, separator);
  return name.includes(":") ? undefined : name;
}

/** Declared queues first (in their declared order, without duplicates). */
export function declaredQueues(...lists: readonly (readonly string[])[]): string[] {
  return [...new Set(lists.flat())];
}
