import type { JetStreamClient, JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { isJetStreamRefusal, isStreamConfigConflict, isStreamNotFound, isWrongLastSequence } from "./jetstream-errors.js";
import type { Logger } from "./logger.js";

/** How long start-up work waits for a JetStream cluster that is not ready yet; default of both helpers here. */
export const JETSTREAM_SETUP_TIMEOUT_MS = 30_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;
/** Written only as a compare-and-set that cannot match, so it is never stored: see openKvBucket. */
const WRITE_PROBE_KEY = "_patchmon_ws_write_probe";

const nanos = (ms: number) => ms * 1_000_000;

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

/** Settings JetStream changes on an existing stream in place (replicas only in a cluster with enough servers). */
const CHANGEABLE = ["max_age", "max_bytes", "max_msg_size", "max_msgs_per_subject", "num_replicas"] as const;
/** Settings JetStream refuses to change on an existing stream. */
const FIXED = ["storage", "retention"] as const;

type Setting = (typeof CHANGEABLE)[number] | (typeof FIXED)[number];
/** The settings a service configures for a stream (or a KV bucket's stream); those left out are not looked at. */
export type StreamSettings = Partial<Pick<StreamConfig, Setting>>;

export interface StreamReconciliation {
  /** What to send as the stream update; empty when the stream already has its configured settings. */
  update: Partial<StreamConfig>;
  /** Settings that change, from → to. */
  changed: Partial<Record<Setting, { from: unknown; to: unknown }>>;
  /** Configured settings that differ but cannot change in place: the stream keeps its own. */
  kept: Partial<Record<Setting, { current: unknown; configured: unknown }>>;
}

/**
 * What bringing an existing stream to its configured settings takes (the pure half of the start-up policy, see
 * ensureStream). The duplicate window is cut to a lowered max age, because JetStream refuses a window longer than
 * the max age (a KV bucket's window is its TTL when that is under 2 minutes).
 */
export function planStreamReconciliation(current: StreamConfig, configured: StreamSettings): StreamReconciliation {
  const plan: StreamReconciliation = { update: {}, changed: {}, kept: {} };
  for (const setting of CHANGEABLE) {
    const to = configured[setting];
    if (to === undefined || to === current[setting]) continue;
    (plan.update as Record<string, unknown>)[setting] = to;
    plan.changed[setting] = { from: current[setting], to };
  }
  for (const setting of FIXED) {
    const to = configured[setting];
    if (to !== undefined && to !== current[setting]) plan.kept[setting] = { current: current[setting], configured: to };
  }
  const maxAge = plan.update.max_age;
  if (maxAge && current.duplicate_window > maxAge) plan.update.duplicate_window = maxAge;
  return plan;
}

/**
 * The one policy for a stream or KV bucket that already exists with other settings (an earlier release, another
 * configuration, a replica racing to create it): the configured settings win at start-up, because the configuration
 * being deployed is the one the operator means and nobody else corrects a limit left behind (a lifetime cut short,
 * recordings growing past their budget, replicas that never reached KV_REPLICAS). What JetStream changes in place
 * (max age, max bytes, max message size, history, replicas in a cluster) is updated and logged at info; what it cannot
 * (storage type, retention, replicas a single server refuses) is kept as it is and logged as a warning, never fatal:
 * the service works on the stream it finds. Limits are stream-wide (nats-server 2.9 has no per-message TTL).
 * Failures that are not JetStream's refusal (timeouts, no responders) are thrown, for untilJetStreamReady to retry.
 */
async function reconcileStream(jsm: JetStreamManager, info: StreamInfo, configured: StreamSettings, logger: Logger): Promise<StreamInfo> {
  const stream = info.config.name;
  const { update, changed, kept } = planStreamReconciliation(info.config, configured);
  if (Object.keys(kept).length > 0) logger.warn({ stream, kept }, "stream settings that JetStream cannot change in place differ from the configuration; kept as they are");
  if (Object.keys(changed).length === 0) return info;
  try {
    const updated = await jsm.streams.update(stream, update);
    logger.info({ stream, changed }, "stream brought to its configured settings");
    return updated;
  } catch (err) {
    if (!isJetStreamRefusal(err)) throw err;
    if (update.num_replicas === undefined) {
      logger.warn({ stream, changed, err: (err as Error).message }, "JetStream refused to change the stream's settings; kept as they are");
      return info;
    }
    // Replicas are the one in-place change a server may refuse (a single server, too few nodes): apply the rest.
    logger.warn({ stream, kept: { num_replicas: { current: info.config.num_replicas, configured: update.num_replicas } }, err: (err as Error).message }, "JetStream refused to change the stream's replicas; kept as they are");
    const { num_replicas, storage, retention, ...rest } = configured;
    return reconcileStream(jsm, info, rest, logger);
  }
}

/**
 * Creates a stream, or brings an existing one to `config` by the start-up policy of reconcileStream. A replica racing
 * to create it with other settings makes the add fail ("already in use"): the stream is then read and reconciled.
 */
export function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, logger: Logger): Promise<StreamInfo> {
  return untilJetStreamReady(
    `stream ${config.name}`,
    async () => {
      let info: StreamInfo;
      try {
        info = await jsm.streams.info(config.name);
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
        try {
          return await jsm.streams.add(config);
        } catch (addErr) {
          if (!isStreamConfigConflict(addErr)) throw addErr;
          info = await jsm.streams.info(config.name);
        }
      }
      return reconcileStream(jsm, info, config, logger);
    },
    logger,
  );
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
 * Creates a KV bucket, or brings an existing one to these options by the start-up policy of reconcileStream (a TTL,
 * history or replica count of another release is changed; no TTL configured means none). Resolves once the bucket
 * takes writes through this connection's server: in a cluster the stream's interest in its subjects reaches the other
 * nodes a moment after it exists, and until then a write answers "no responders" (nats.js: JetStreamNotEnabled). The
 * probe is a compare-and-set on a revision no key can have, so the stream answers "wrong last sequence" and stores
 * nothing.
 */
export function openKvBucket(js: JetStreamClient, name: string, options: KvBucketOptions, logger: Logger): Promise<KV> {
  const kvm = new Kvm(js);
  const history = options.history ?? 1;
  const config = { history, replicas: options.replicas, ...(options.ttlMs ? { ttl: options.ttlMs } : {}) };
  const settings: StreamSettings = { max_age: nanos(options.ttlMs ?? 0), max_msgs_per_subject: history, num_replicas: options.replicas };
  return untilJetStreamReady(
    `KV bucket ${name}`,
    async () => {
      let kv: KV;
      try {
        kv = await kvm.create(name, config);
      } catch (err) {
        // Two replicas racing to create it with different settings: the loser opens the winner's and reconciles it.
        if (!isStreamConfigConflict(err)) throw err;
        kv = await kvm.open(name);
      }
      await reconcileStream(await js.jetstreamManager(), (await kv.status()).streamInfo, settings, logger);
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
