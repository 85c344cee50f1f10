import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { TerminalBuckets, TerminalStreams } from "@patchmon-ws/protocol";
import { isStreamNotFound, openKvBucket, untilJetStreamReady, type Logger } from "@patchmon-ws/service-kit";

export interface TerminalStorageOptions {
  replicas: number;
  auditMaxAgeMs: number;
  recordingMaxAgeMs: number;
  recordingMaxBytes: number;
  /** Live-session entries not refreshed for this long are gone (their replica died). */
  sessionEntryTtlMs: number;
}

export interface TerminalStorage {
  js: JetStreamClient;
  jsm: JetStreamManager;
  sessions: KV;
}

const nanos = (ms: number) => ms * 1_000_000;

/** Creates a stream, or brings an existing one to this configuration (limits change with the environment). */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, logger: Logger): Promise<void> {
  const created = await untilJetStreamReady(
    `stream ${config.name}`,
    async () => {
      try {
        await jsm.streams.info(config.name);
        return false;
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
        // A replica racing us may create it first with other limits: then the next attempt finds it and updates it.
        await jsm.streams.add(config);
        return true;
      }
    },
    logger,
  );
  if (created) return;
  try {
    const { name, ...update } = config;
    await jsm.streams.update(name, update);
  } catch (err) {
    // e.g. a replica count a single server cannot change: keep the stream as it is, say so.
    logger.warn({ stream: config.name, err: (err as Error)?.message }, "stream exists with settings that cannot be changed; using it as is");
  }
}

/**
 * terminal-ws's durable state: the audit stream, the recordings stream and the live-session bucket (sessions and
 * concurrency slots). Works on nats-server 2.9: limits are stream-wide (no per-message TTL).
 */
export async function openTerminalStorage(nc: NatsConnection, options: TerminalStorageOptions, logger: Logger): Promise<TerminalStorage> {
  const js = jetstream(nc, { timeout: 5000 });
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  await ensureStream(
    jsm,
    {
      name: TerminalStreams.audit.name,
      subjects: [TerminalStreams.audit.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.auditMaxAgeMs),
      num_replicas: options.replicas,
    },
    logger,
  );
  await ensureStream(
    jsm,
    {
      name: TerminalStreams.recordings.name,
      subjects: [TerminalStreams.recordings.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.recordingMaxAgeMs),
      max_bytes: options.recordingMaxBytes,
      // A batch is at most ~64 KiB of lines; NATS's own max_payload (1 MiB) bounds it anyway.
      max_msg_size: 1024 * 1024,
      num_replicas: options.replicas,
    },
    logger,
  );
  const sessions = await openKvBucket(js, TerminalBuckets.sessions, { replicas: options.replicas, ttlMs: options.sessionEntryTtlMs }, logger);
  // create() binds to an existing bucket as it is: bring its entry lifetime to this release's.
  const status = await sessions.status();
  if (status.ttl !== options.sessionEntryTtlMs) {
    await jsm.streams
      // JetStream refuses a duplicate window longer than the max age (KV sets it to the TTL, at most 2 min).
      .update(status.streamInfo.config.name, { max_age: nanos(options.sessionEntryTtlMs), duplicate_window: nanos(Math.min(options.sessionEntryTtlMs, 120_000)) })
      .catch((err: unknown) => logger.warn({ bucket: TerminalBuckets.sessions, err: (err as Error)?.message }, "could not change the session bucket's entry lifetime"));
  }
  return { js, jsm, sessions };
}
