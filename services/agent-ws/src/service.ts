import { Redis } from "ioredis";
import { PresenceClient, type ServiceContext } from "@patchmon-ws/service-kit";
import { AgentAuthenticator } from "./connection/agent-authenticator.js";
import { AgentGateway } from "./connection/agent-gateway.js";
import { AgentUpgradeHandler } from "./connection/agent-upgrade.js";
import { openAgentWsBuckets } from "./buckets.js";
import { CommandQueue } from "./commands/command-queue.js";
import { CommandResponder } from "./commands/command-responder.js";
import { CommandRouter } from "./commands/command-router.js";
import { CommandDispatcher } from "./commands/command-dispatcher.js";
import type { AgentWsConfig } from "./config.js";
import { registerHttpApi } from "./http/http-api.js";
import { AgentWsMetrics } from "./metrics.js";
import { NatsEvents } from "./connection/nats-events.js";
import { PresenceSweeper } from "./presence/presence-sweeper.js";
import { PresenceView } from "./presence/presence-view.js";
import { PresenceWriter } from "./presence/presence-writer.js";
import { ReplicaDirectory } from "./presence/replica-directory.js";
import { StatusStreams } from "./http/status-streams.js";
import { TerminalRelays } from "./relays/terminal-relays.js";
import { UserAccess } from "./http/user-access.js";

/** Shares of the shutdown budget for each drain step. */
const DRAIN_SHARES = { worker: 0.3, sockets: 0.25, presence: 0.25 };

/**
 * Wires agent-ws into the kit's runtime (launchService has connected NATS and answers /readyz for it): presence,
 * commands and events over NATS, durable commands in Redis, auth through the kit's client and revocation hub, the
 * agent gateway and its one upgrade handler. The caller listens.
 */
export async function setupAgentWs({ config, logger, runtime, nc, revocations, auth, userVerifier }: ServiceContext<AgentWsConfig>): Promise<void> {
  const metrics = new AgentWsMetrics(runtime.registry);
  const replicaId = config.REPLICA_ID;
  logger.info({ replicaId, apiVersions: config.API_VERSIONS }, "starting agent-ws");
  const buckets = await openAgentWsBuckets(nc, { replicas: config.KV_REPLICAS, replicaTtlMs: config.REPLICA_TTL_MS }, logger);
  const view = new PresenceView(buckets.presence, nc, logger);
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
  const relays: TerminalRelays = new TerminalRelays(nc, { get: (hostId: string) => gateway.get(hostId) }, {
    replicaId,
    stallMs: config.RELAY_STALL_MS,
    maxSessions: config.MAX_RELAY_SESSIONS,
    logger,
    metrics,
  });
  const gateway: AgentGateway = new AgentGateway({
    replicaId,
    garbageLimit: config.GARBAGE_LIMIT,
    garbageWindowMs: config.GARBAGE_WINDOW_MS,
    helloGraceMs: config.HELLO_GRACE_MS,
    logger,
    metrics,
    presence: writer,
    events,
    revocations,
    relay: relays,
    onAgentOnline: (hostId) => {
      queue.promotePending(hostId).catch((err: unknown) => logger.warn({ hostId, err: (err as Error)?.message }, "could not promote queued commands"));
    },
  });
  const responder = new CommandResponder(nc, gateway, replicaId, logger);
  responder.start();
  relays.start();

  // Another replica recorded a newer connection of a host we hold: close ours (REPLACED).
  view.subscribe((change) => {
    if (change.record?.connected) gateway.remoteConnected(change.record);
  });

  const presence = new PresenceClient(view);
  const router = new CommandRouter(nc, gateway, (hostId) => {
    const record = view.get(hostId)?.record;
    return record?.connected ? record.replica : null;
  }, {
    replicaId,
    helloGraceMs: config.HELLO_GRACE_MS,
    logger,
    locateAgent: (hostId) => presence.locate(hostId),
  });
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

  const verifier = userVerifier({ audience: "api", ttlMs: config.AUTH_CACHE_TTL_MS });
  const access = new UserAccess(verifier, auth);
  const streams = new StatusStreams(view, {
    keepaliveMs: config.SSE_KEEPALIVE_MS,
    perUserLimit: config.STATUS_STREAMS_PER_USER,
    logger,
    onCountChange: (open) => metrics.statusStreams.set(open),
  });
  // Agents are closed by the hub itself (the gateway tracks them by host); these are the domain's consequences.
  revocations.onEvent((event) => {
    if (event.kind === "host" && event.reason === "host_deleted") {
      void writer.remove(event.id).catch(() => undefined);
      queue.discardHost(event.id, event.at).catch((err: unknown) => logger.warn({ hostId: event.id, err: (err as Error)?.message }, "could not discard commands of a deleted host"));
    } else if (event.kind !== "host") {
      streams.closeFor(event.kind === "user" ? { userId: event.id } : { sessionId: event.id });
    }
  });

  const commands = new CommandDispatcher({
    send: (target, message, options) => router.send(target, message, options),
    sendMany: (targets, message, options) => router.sendMany(targets, message, options),
    enqueue: (hostId, commandId, message, options) => queue.enqueue(hostId, commandId, message, options),
    hostExists: async (hostId) => {
      await auth.getHost(hostId);
    },
    knownHosts: () => [...view.values()].map((v) => v.record.hostId),
    lastDisconnect: (hostId) => view.get(hostId)?.record.lastDisconnect ?? null,
    observe: (status, seconds) => {
      metrics.commandLatency.observe({ status }, seconds);
      metrics.commands.inc({ path: "direct", status });
    },
  });
  registerHttpApi({ app: runtime.app, trust: runtime.trust, access, commands, view, streams, defaultAckTimeoutMs: config.ACK_TIMEOUT_MS });

  const authenticator = new AgentAuthenticator(auth, { maxPending: config.MAX_PENDING_UPGRADES }, metrics);
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

  gateway.startHeartbeats(config.PING_INTERVAL_MS);

  runtime.addReadinessCheck("redis", () => redis.status === "ready");
  runtime.addReadinessCheck("presence", () => view.ready);

  runtime.onDrain(async () => {
    const budget = config.SHUTDOWN_TIMEOUT_MS;
    // From here on senders find no responder for our agents and queue their commands durably.
    responder.stop();
    // Terminal sessions through our agents end now, with a reason their browsers see.
    relays.stop();
    streams.closeAll("service restarting");
    clearInterval(reconcile);
    // The worker stops while the agents are told to reconnect, not before: every second here is a second agents
    // back off against a closed port. A queued command whose agent closes meanwhile is retried (ids dedupe it).
    await Promise.all([queue.close(budget * DRAIN_SHARES.worker), gateway.drain(budget * DRAIN_SHARES.sockets)]);
    upgrades.close();
    await Promise.race([writer.idle(), new Promise((r) => setTimeout(r, budget * DRAIN_SHARES.presence))]);
    writer.stop();
    sweeper.stop();
    await directory.stop();
    view.stop();
    await Promise.all([redis.quit().catch(() => undefined), workerRedis.quit().catch(() => undefined)]);
  });
}
