import { Redis } from "ioredis";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, FailureLimiter, ServiceRuntime, type Logger } from "@patchmon-ws/service-kit";
import { AgentAuthenticator } from "./agent-authenticator.js";
import { AgentGateway } from "./agent-gateway.js";
import { AgentUpgradeHandler } from "./agent-upgrade.js";
import { openAgentWsBuckets } from "./buckets.js";
import { CommandQueue } from "./command-queue.js";
import { CommandResponder } from "./command-responder.js";
import { CommandRouter } from "./command-router.js";
import { CommandService } from "./command-service.js";
import type { AgentWsConfig } from "./config.js";
import { HostLookup } from "./host-lookup.js";
import { registerHttpApi } from "./http-api.js";
import { AgentWsMetrics } from "./metrics.js";
import { NatsEvents } from "./nats-events.js";
import { PresenceSweeper } from "./presence-sweeper.js";
import { PresenceView } from "./presence-view.js";
import { PresenceWriter } from "./presence-writer.js";
import { ReplicaDirectory } from "./replica-directory.js";
import { subscribeRevocations } from "./revocations.js";
import { StatusStreams } from "./status-streams.js";
import { TokenCache } from "./token-cache.js";
import { UserAccess } from "./user-access.js";

export interface RunningAgentWs {
  runtime: ServiceRuntime;
  port: number;
  gateway: AgentGateway;
  nc: NatsConnection;
}

/** Tracks whether the NATS connection is up right now (for /readyz). */
function trackNats(nc: NatsConnection): () => boolean {
  let up = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") up = false;
      else if (status.type === "reconnect") up = true;
    }
  })();
  return () => up && !nc.isClosed();
}

/** Shares of the shutdown budget for each drain step. */
const DRAIN_SHARES = { worker: 0.3, sockets: 0.25, presence: 0.25 };

/**
 * Wires agent-ws: HTTP runtime, NATS (auth, presence, commands, events), Redis (durable commands), the agent
 * gateway and its one upgrade handler. Resolves once it listens.
 */
export async function startAgentWs(config: AgentWsConfig, logger: Logger): Promise<RunningAgentWs> {
  const runtime = new ServiceRuntime({
    name: "agent-ws",
    logger,
    host: config.HOST,
    port: config.PORT,
    trustedProxies: config.TRUSTED_PROXIES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    jsonBodyLimit: config.HTTP_BODY_LIMIT,
  });
  const metrics = new AgentWsMetrics(runtime.registry);
  const replicaId = config.REPLICA_ID;
  logger.info({ replicaId, apiVersions: config.API_VERSIONS }, "starting agent-ws");

  const nc = await connectNats({ servers: config.NATS_URL, name: `agent-ws-${replicaId}`, logger });
  const natsUp = trackNats(nc);
  const buckets = await openAgentWsBuckets(nc, { replicas: config.KV_REPLICAS, replicaTtlMs: config.REPLICA_TTL_MS }, logger);
  const view = new PresenceView(buckets.presence, logger);
  await view.start();
  const writer = new PresenceWriter(view, { logger, onWriteFailure: () => metrics.presenceWriteFailures.inc() });

  // API-side calls fail fast while Redis is down (503, never a hung request); the worker's blocking connection waits.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const workerRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  for (const client of [redis, workerRedis]) client.on("error", (err: Error) => logger.warn({ err: err.message }, "redis error"));
  const queue = new CommandQueue(redis, {
    attempts: config.COMMAND_ATTEMPTS,
    backoffMs: config.COMMAND_BACKOFF_MS,
    offlineRecheckMs: config.COMMAND_OFFLINE_RECHECK_MS,
    ttlMs: config.COMMAND_TTL_MS,
    concurrency: config.COMMAND_WORKER_CONCURRENCY,
    logger,
    metrics,
  });

  const events = new NatsEvents(nc, replicaId, metrics, logger);
  let responder: CommandResponder | undefined;
  const gateway = new AgentGateway({
    replicaId,
    garbageLimit: config.GARBAGE_LIMIT,
    garbageWindowMs: config.GARBAGE_WINDOW_MS,
    helloGraceMs: config.HELLO_GRACE_MS,
    logger,
    metrics,
    presence: writer,
    events,
    routes: { hold: (hostId) => responder?.hold(hostId), release: (hostId) => responder?.release(hostId) },
    onAgentOnline: (hostId) => {
      queue.promotePending(hostId).catch((err: unknown) => logger.warn({ hostId, err: (err as Error)?.message }, "could not promote queued commands"));
    },
  });
  responder = new CommandResponder(nc, gateway, replicaId, logger);
  responder.start();

  // Another replica recorded a newer connection of a host we hold: close ours (REPLACED).
  view.subscribe((change) => {
    if (change.record?.connected) gateway.remoteConnected(change.record);
  });

  const router = new CommandRouter(nc, gateway, (hostId) => {
    const record = view.get(hostId)?.record;
    return record?.connected ? record.replica : null;
  }, { replicaId, helloGraceMs: config.HELLO_GRACE_MS, logger });
  queue.startWorker(router, workerRedis);

  const directory = new ReplicaDirectory(buckets.replicas, replicaId, () => gateway.size, logger);
  const sweeper = new PresenceSweeper(view, directory, replicaId, (record) => events.disconnected(record), logger);
  // Heartbeat before the first agent is accepted, so no peer takes our agents for orphans.
  await directory.start(config.REPLICA_HEARTBEAT_MS);
  await sweeper.sweep(true);
  sweeper.start(config.PRESENCE_SWEEP_MS);
  const reconcile = setInterval(() => {
    const rewritten = gateway.reconcile((hostId) => view.get(hostId)?.record ?? null);
    if (rewritten > 0) logger.warn({ rewritten }, "re-recorded presence of live agents");
  }, config.PRESENCE_SWEEP_MS);
  reconcile.unref();

  const access = new UserAccess(nc, new TokenCache(config.AUTH_CACHE_TTL_MS), config.AUTH_TIMEOUT_MS);
  const hosts = new HostLookup(nc, config.AUTH_TIMEOUT_MS);
  const streams = new StatusStreams(view, {
    keepaliveMs: config.SSE_KEEPALIVE_MS,
    perUserLimit: config.STATUS_STREAMS_PER_USER,
    logger,
    onCountChange: (open) => metrics.statusStreams.set(open),
  });
  const revocations = subscribeRevocations(
    nc,
    {
      closeHost: (hostId, code, reason, text) => gateway.closeHost(hostId, code, reason, text),
      hostDeleted: (hostId, at) => {
        void writer.remove(hostId).catch(() => undefined);
        queue.discardHost(hostId, at).catch((err: unknown) => logger.warn({ hostId, err: (err as Error)?.message }, "could not discard commands of a deleted host"));
      },
      principalRevoked: (match) => {
        access.evict(match);
        streams.closeFor(match);
      },
    },
    logger,
  );

  const commands = new CommandService({
    send: (target, message, options) => router.send(target, message, options),
    sendMany: (targets, message, options) => router.sendMany(targets, message, options),
    enqueue: (hostId, commandId, message, options) => queue.enqueue(hostId, commandId, message, options),
    hostExists: async (hostId) => {
      await hosts.get(hostId);
    },
    knownHosts: () => [...view.values()].map((v) => v.record.hostId),
    lastDisconnect: (hostId) => view.get(hostId)?.record.lastDisconnect ?? null,
    observe: (status, seconds) => {
      metrics.commandLatency.observe({ status }, seconds);
      metrics.commands.inc({ path: "direct", status });
    },
  });
  registerHttpApi({ app: runtime.app, trust: runtime.trust, access, commands, view, streams, defaultAckTimeoutMs: config.ACK_TIMEOUT_MS });

  const authenticator = new AgentAuthenticator(
    nc,
    new FailureLimiter({ maxFailures: config.AUTH_MAX_FAILURES, windowMs: config.AUTH_FAILURE_WINDOW_MS }),
    { timeoutMs: config.AUTH_TIMEOUT_MS, maxPending: config.MAX_PENDING_UPGRADES },
    metrics,
  );
  const upgrades = new AgentUpgradeHandler({
    versions: config.API_VERSIONS,
    maxPayload: config.AGENT_MAX_PAYLOAD,
    maxConnections: config.MAX_AGENT_CONNECTIONS,
    trust: runtime.trust,
    authenticator,
    gateway,
    metrics,
    logger,
  });
  runtime.setUpgradeHandler(upgrades.handle);

  const heartbeat = setInterval(() => gateway.tickHeartbeats(), config.PING_INTERVAL_MS);
  heartbeat.unref();

  runtime.addReadinessCheck("nats", natsUp);
  runtime.addReadinessCheck("redis", () => redis.status === "ready");
  runtime.addReadinessCheck("presence", () => view.ready);

  runtime.onDrain(async () => {
    const budget = config.SHUTDOWN_TIMEOUT_MS;
    // From here on senders find no responder for our agents and queue their commands durably.
    responder?.stop();
    streams.closeAll("service restarting");
    await queue.close(budget * DRAIN_SHARES.worker);
    clearInterval(heartbeat);
    clearInterval(reconcile);
    await gateway.drain(budget * DRAIN_SHARES.sockets);
    upgrades.close();
    await Promise.race([writer.idle(), new Promise((r) => setTimeout(r, budget * DRAIN_SHARES.presence))]);
    writer.stop();
    sweeper.stop();
    await directory.stop();
    revocations.unsubscribe();
    view.stop();
    await nc.drain().catch(() => undefined);
    await Promise.all([redis.quit().catch(() => undefined), workerRedis.quit().catch(() => undefined)]);
  });

  const port = await runtime.listen();
  return { runtime, port, gateway, nc };
}
