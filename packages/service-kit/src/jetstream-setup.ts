import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { isStreamConfigConflict, isWrongLastSequence } from "./jetstream-errors.js";
import type { Logger } from "./logger.js";

/** How long start-up work waits for a JetStream cluster that is not ready yet; default of both helpers here. */
export const JETSTREAM_SETUP_TIMEOUT_MS = 30_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;
/** Written only as a compare-and-set that cannot match, so it is never stored: see openKvBucket. */
const WRITE_PROBE_KEY = "_patchmon_ws_write_probe";

/**
 * Runs start-up JetStream work (create a bucket or stream), retrying failures with backoff until `timeoutMs`. In a
 * cluster, a stream another replica has just created answers "stream not found" until its group has a leader, and
 * API calls time out while a leader is elected; replicas of every service start together (compose, Kubernetes, a
 * NATS node coming back), so those answers are waited out rather than fatal. The last failure is thrown.
 */
export async function untilJetStreamReady<T>(what: string, work: () => Promise<T>, logger: Logger, timeoutMs = JETSTREAM_SETUP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = FIRST_RETRY_MS; ; wait = Math.min(wait * 2, MAX_RETRY_MS)) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() + wait > deadline) throw err;
      logger.warn({ what, err: (err as Error)?.message, retryInMs: wait }, "JetStream not ready for start-up work yet");
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export interface KvBucketOptions {
  /** Copies kept by a JetStream cluster (1 for a single nats-server). */
  replicas: number;
  /** Entry lifetime (the bucket's max age); none by default. */
  ttlMs?: number;
  /** Revisions kept per key; default 1. */
  history?: number;
  /** How long to wait for a cluster that is not ready; default JETSTREAM_SETUP_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Creates a KV bucket, or binds to it as it is when it exists with other settings (another release's limits: used
 * and logged, never fatal). Resolves once the bucket takes writes through this connection's server: in a cluster the
 * stream's interest in its subjects reaches the other nodes a moment after it exists, and until then a write answers
 * "no responders" (nats.js: JetStreamNotEnabled). The probe is a compare-and-set on a revision no key can have, so
 * the stream answers "wrong last sequence" and stores nothing.
 */
export function openKvBucket(js: JetStreamClient, name: string, options: KvBucketOptions, logger: Logger): Promise<KV> {
  const kvm = new Kvm(js);
  const config = { history: options.history ?? 1, replicas: options.replicas, ...(options.ttlMs ? { ttl: options.ttlMs } : {}) };
  return untilJetStreamReady(
    `KV bucket ${name}`,
    async () => {
      let kv: KV;
      try {
        kv = await kvm.create(name, config);
      } catch (err) {
        // Two replicas racing to create it with different settings: the loser binds to the winner's.
        if (!isStreamConfigConflict(err)) throw err;
        logger.warn({ bucket: name, err: (err as Error).message }, "KV bucket exists with different settings; using it as is");
        kv = await kvm.open(name);
      }
      await kv.update(WRITE_PROBE_KEY, new Uint8Array(0), Number.MAX_SAFE_INTEGER).then(
        () => {
          throw new Error(`KV bucket ${name}: the write probe was stored`);
        },
        (err: unknown) => {
          if (!isWrongLastSequence(err)) throw err;
        },
      );
      return kv;
    },
    logger,
    options.timeoutMs,
  );
}
