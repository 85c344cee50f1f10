/**
 * JetStream's answer to a compare-and-set (KV `create`, or `update` with a revision) on a key that exists or
 * changed meanwhile: "wrong last sequence" (API error 10071). Matched on the text because nats.js reports it as a
 * plain JetStreamApiError whose class differs between its packages.
 */
export function isWrongLastSequence(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /wrong last sequence|key exists|10071/i.test(text);
}
