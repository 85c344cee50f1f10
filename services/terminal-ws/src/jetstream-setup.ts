import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { TerminalBuckets, TerminalStreams } from "@patchmon-ws/protocol";
import { ensureStream, openKvBucket, type Logger } from "@patchmon-ws/service-kit";

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

/**
 * terminal-ws's durable state: the audit stream, the recordings stream and the live-session bucket (sessions and
 * concurrency slots), created or brought to these limits (the kit's start-up policy for existing streams). Works on
 * nats-server 2.9: limits are stream-wide (no per-message TTL).
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
  return { js, jsm, sessions };
}
