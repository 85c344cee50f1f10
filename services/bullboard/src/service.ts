import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { ALL_QUEUES } from "@patchmon-ws/protocol";
import { OriginPolicy, rejectUpgrade, requestPathname, type ServiceContext } from "@patchmon-ws/service-kit";
import { AccessGuard } from "./access-guard.js";
import { createBoardRouter } from "./board-http.js";
import type { BullboardConfig } from "./config.js";
import { BOARD_BASE_PATH, Dashboard } from "./dashboard.js";
import { EventGateway } from "./event-gateway.js";
import { BullboardMetrics } from "./metrics.js";
import { QueueDiscovery } from "./queue-discovery.js";
import { QueueEventHub } from "./queue-event-hub.js";
import { QueueEventsSource, redisStreamIdNow } from "./queue-events-source.js";
import { declaredQueues } from "./queue-names.js";
import { QueueRegistry } from "./queue-registry.js";
import { RedisConnections } from "./redis-connections.js";
import { redisUnavailable } from "./redis-errors.js";

/**
 * Wires the dashboard into the kit's runtime (launchService has connected NATS and answers /readyz for it): Redis
 * connections, the queue registry (declared + discovered queues) behind two Bull Boards, authentication through
 * the auth service, the live-event socket and its hub, revocations, readiness, metrics and the drain. The caller
 * listens.
 */
export function setupBullboard({ config, runtime, nc, logger, revocations, auth, userVerifier }: ServiceContext<BullboardConfig>): { close: () => Promise<void> } {
  const redis = new RedisConnections({
    url: config.REDIS_URL,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    reconnectMaxMs: config.REDIS_RECONNECT_MAX_MS,
    logger,
  });

  const dashboard = new Dashboard({
    title: config.BOARD_TITLE,
    gate: () => {
      if (!redis.isUp) throw redisUnavailable();
    },
  });
  const registry = new QueueRegistry({
    connection: redis.commands,
    prefix: config.BULLMQ_PREFIX,
    declared: declaredQueues(ALL_QUEUES, config.BULLBOARD_QUEUES),
    maxQueues: config.MAX_QUEUES,
    sink: dashboard,
    logger,
  });

  const metrics = new BullboardMetrics(runtime.registry, {
    // Read at scrape time, long after the gateway below exists.
    sockets: (): number => events.size,
    queues: () => registry.size,
    redisUp: () => redis.isUp,
  });

  const hub = new QueueEventHub({
    openEvents: (queue) =>
      new QueueEventsSource({
        queue,
        prefix: config.BULLMQ_PREFIX,
        connection: redis.createBlocking(),
        release: (connection) => redis.release(connection),
        startId: () => redisStreamIdNow(redis.commands),
        onError: (err) => logger.error({ queue, err }, "cannot read the queue's events"),
      }),
    fetchCounts: (queue) => registry.getJobCounts(queue),
    countsMinIntervalMs: config.COUNTS_MIN_INTERVAL_MS,
    countsRefreshIntervalMs: config.COUNTS_REFRESH_INTERVAL_MS,
    logger,
    onPublish: (message, recipients) => {
      if (recipients > 0) metrics.eventMessages.inc({ type: messageType(message.json) }, recipients);
    },
  });
  for (const name of registry.names()) hub.addQueue(name);
  registry.on("added", (name) => hub.addQueue(name));
  registry.on("removed", (name) => hub.removeQueue(name));

  const discovery = new QueueDiscovery({
    connection: redis.commands,
    prefix: config.BULLMQ_PREFIX,
    intervalMs: config.QUEUE_DISCOVERY_INTERVAL_MS,
    onScan: (found) => registry.sync(found),
    logger,
  });
  redis.on("up", () => {
    hub.setRedisUp(true);
    if (config.QUEUE_DISCOVERY_INTERVAL_MS > 0) void discovery.scanNow();
  });
  redis.on("down", () => hub.setRedisUp(false));
  discovery.start();

  const verifier = userVerifier({ audience: "bullboard", ttlMs: config.AUTH_CACHE_TTL_MS });
  const guard = new AccessGuard({
    verifier,
    exchangeTicket: (ticket, sourceAddress) =>
      auth.consumeTicket({ ticket, purpose: "bullboard", target: "*", sourceAddress, issueToken: { audience: "bullboard" } }),
    cookieTtlSeconds: config.COOKIE_TTL_SECONDS,
    onOutcome: metrics.authOutcome,
  });
  const origins = new OriginPolicy(config.ALLOWED_ORIGINS, runtime.trust);

  const events: EventGateway = new EventGateway({
    guard,
    verifier,
    origins,
    trust: runtime.trust,
    hub,
    revocations,
    maxSockets: config.EVENTS_MAX_SOCKETS,
    maxSocketsPerUser: config.EVENTS_MAX_SOCKETS_PER_USER,
    maxQueuedEvents: config.EVENTS_MAX_QUEUED,
    highWaterBytes: config.EVENTS_HIGH_WATER_BYTES,
    pingIntervalMs: config.EVENTS_PING_INTERVAL_MS,
    logger,
    onDropped: (count) => metrics.eventsDropped.inc(count),
  });

  runtime.app.use(
    BOARD_BASE_PATH,
    createBoardRouter({
      guard,
      dashboard,
      origins,
      trust: runtime.trust,
      cookieTtlSeconds: config.COOKIE_TTL_SECONDS,
      onTicketExchange: (result) => metrics.ticketExchanges.inc({ result }),
    }),
  );
  runtime.setUpgradeHandler((req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (EventGateway.handles(requestPathname(req))) return events.handleUpgrade(req, socket, head);
    rejectUpgrade(socket, "NOT_FOUND");
  });

  runtime.addReadinessCheck("redis", () => redis.isUp);

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      events.close();
      await discovery.stop();
      await hub.close();
      await registry.close();
      await redis.close();
    })());
  runtime.onDrain(close);
  return { close };
}

function messageType(json: string): string {
  const match = /^\{"type":"([a-z-]+)"/.exec(json);
  return match?.[1] ?? "unknown";
}
