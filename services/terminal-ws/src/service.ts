import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { HostRecord } from "@patchmon-ws/protocol";
import { ConnectionQuota, OriginPolicy, PresenceClient, presenceBucketSource, type ServiceContext } from "@patchmon-ws/service-kit";
import { feedAuditIndex } from "./audit/audit-feed.js";
import { AuditIndex } from "./audit/audit-index.js";
import { AuditTrail } from "./audit/audit-trail.js";
import { AUDIT_MAX_AGE_MS, RECORDING_MAX_AGE_MS, type TerminalWsConfig } from "./config.js";
import { registerHttpApi } from "./http-api.js";
import { openTerminalStorage } from "./jetstream-setup.js";
import { TerminalWsMetrics } from "./metrics.js";
import { RecordingStore } from "./recording/recording-store.js";
import { SessionRecorder } from "./recording/session-recorder.js";
import { SessionLedger } from "./session-ledger.js";
import { DirectShell } from "./shells/direct-shell.js";
import { RelayShell } from "./shells/relay-shell.js";
import { TerminalGateway } from "./terminal-gateway.js";

/** Live-session ledger entries are rewritten this often; the bucket forgets them after three periods. */
const LEDGER_REFRESH_MS = 15_000;
/** How often recordings are trimmed to their total size limit. */
const RETENTION_INTERVAL_MS = 60_000;
/** Share of the shutdown budget sessions get to say goodbye. */
const DRAIN_SHARE = 0.6;

/**
 * Wires terminal-ws into the kit's runtime (launchService has connected NATS and answers /readyz for it): the
 * terminal endpoint and its gateway, the two shells (direct ssh2, relay through agent-ws), the cluster-wide session
 * ledger, the audit trail and its index, recordings and their retention, the admin API. The caller listens.
 */
export async function setupTerminalWs({ config, logger, runtime, nc, revocations, auth, userVerifier }: ServiceContext<TerminalWsConfig>): Promise<void> {
  const metrics = new TerminalWsMetrics(runtime.registry);
  logger.info({ replicaId: config.REPLICA_ID, apiVersions: config.API_VERSIONS, recordSessions: config.RECORD_SESSIONS }, "starting terminal-ws");
  const storage = await openTerminalStorage(
    nc,
    {
      replicas: config.KV_REPLICAS,
      auditMaxAgeMs: AUDIT_MAX_AGE_MS(config),
      recordingMaxAgeMs: RECORDING_MAX_AGE_MS(config),
      recordingMaxBytes: config.RECORDING_MAX_BYTES,
      sessionEntryTtlMs: LEDGER_REFRESH_MS * 3,
    },
    logger,
  );
  const audit = new AuditTrail(storage.js, config.REPLICA_ID, logger);
  const index = new AuditIndex(config.AUDIT_INDEX_MAX_EVENTS);
  const feed = await feedAuditIndex(storage.js, index, logger);
  const recordings = new RecordingStore(storage.js, storage.jsm, { maxAgeMs: RECORDING_MAX_AGE_MS(config), maxBytes: config.RECORDING_MAX_BYTES }, logger);
  recordings.startRetention(RETENTION_INTERVAL_MS);
  const ledger = new SessionLedger(storage.sessions, {
    replicaId: config.REPLICA_ID,
    maxPerUser: config.MAX_SESSIONS_PER_USER,
    maxPerHost: config.MAX_SESSIONS_PER_HOST,
    refreshMs: LEDGER_REFRESH_MS,
    logger,
  });
  ledger.start();
  const presence = new PresenceClient(presenceBucketSource(new Kvm(jetstream(nc, { timeout: 5000 }))));
  const locateAgent = (hostId: string) => presence.locate(hostId);
  const records = (host: HostRecord) => host.recordSessions ?? config.RECORD_SESSIONS;

  const gateway = new TerminalGateway({
    versions: config.API_VERSIONS,
    auth,
    trust: runtime.trust,
    origins: new OriginPolicy(config.ALLOWED_ORIGINS, runtime.trust),
    audit,
    quota: new ConnectionQuota<never>({ what: "terminal sessions", total: config.MAX_SESSIONS }),
    revocations,
    pingIntervalMs: config.PING_INTERVAL_MS,
    logger,
    metrics,
    socket: { highWaterBytes: config.OUTPUT_HIGH_WATER_BYTES, maxInvalidMessages: config.MAX_INVALID_MESSAGES },
    session: {
      openShell: (mode, host) =>
        mode === "direct"
          ? new DirectShell({
              pinned: host.hostKey,
              pinHostKey: (key) => auth.pinHostKey(host.id, key),
              readyTimeoutMs: config.SSH_READY_TIMEOUT_MS,
              keepaliveMs: config.SSH_KEEPALIVE_MS,
              logger,
            })
          : new RelayShell({ nc, replicaId: config.REPLICA_ID, locateAgent, readyTimeoutMs: config.SSH_READY_TIMEOUT_MS + 5000, logger }),
      ledger,
      audit,
      startRecorder: (session, request, onPressure) => {
        if (!records(session.host)) return undefined;
        const startedAt = Date.now();
        return new SessionRecorder(
          {
            version: 2,
            width: request.cols,
            height: request.rows,
            timestamp: Math.floor(startedAt / 1000),
            title: `${request.username}@${session.host.name} (${session.connectionMode ?? "direct"}) by ${session.principal.username}`,
            env: { TERM: request.term },
          },
          recordings.sink(session.sessionId),
          {
            onPressure,
            onError: (err) => {
              metrics.recordingErrors.inc();
              logger.warn({ sessionId: session.sessionId, err: (err as Error)?.message }, "a recording batch could not be stored");
            },
          },
        );
      },
      recheckPrincipal: (principal) => auth.verifySession(principal.sessionId, principal.userId),
      limits: {
        connectTimeoutMs: config.CONNECT_TIMEOUT_MS,
        idleTimeoutMs: config.IDLE_TIMEOUT_MS,
        idleWarningMs: config.IDLE_WARNING_MS,
        maxSessionMs: config.MAX_SESSION_MS,
        maxSessionWarningMs: config.MAX_SESSION_WARNING_MS,
      },
    },
  });
  runtime.setUpgradeHandler(gateway.handleUpgrade);

  const verifier = userVerifier({ audience: "api", ttlMs: config.AUTH_CACHE_TTL_MS });
  registerHttpApi({ app: runtime.app, trust: runtime.trust, verifier, index, recordings });

  runtime.addReadinessCheck("audit", () => feed.ready);

  runtime.onDrain(async () => {
    await gateway.drain(config.SHUTDOWN_TIMEOUT_MS * DRAIN_SHARE);
    ledger.stop();
    recordings.stop();
    feed.stop();
  });
}
