/**
 * JetStream's answer to a compare-and-set (KV `create`, or `update` with a revision) on a key that exists or
 * changed meanwhile: "wrong last sequence" (API error 10071). Matched on the text because nats.js reports it as a
 * plain JetStreamApiError whose class differs between its packages.
 */
export function isWrongLastSequence(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /wrong last sequence|key exists|10071/i.test(text);
}

/**
 * JetStream's answer to creating a stream (or KV bucket) whose name exists with another configuration: "stream name
 * already in use with a different configuration" (API error 10058).
 */
export function isStreamConfigConflict(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /already in use|10058/i.test(text);
}

/** JetStream's "stream not found" (API error 10059), also for a KV bucket's stream. */
export function isStreamNotFound(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /stream not found|10059/i.test(text);
}

/**
 * An answer of the JetStream API refusing the request (it carries an API error code), as opposed to no answer at all
 * (timeout, no responders). Recognised by shape, because each nats.js package may bring its own error classes.
 */
export function isJetStreamRefusal(err: unknown): boolean {
  return typeof (err as { apiError?: unknown })?.apiError === "function";
}
