import { runService } from "@patchmon-ws/service-kit";
import { AuthService, storageLifetimes } from "./auth-service.js";
import { loadAuthConfig } from "./config.js";
import { createHttpApi } from "./http-api.js";
import { serveNatsApi } from "./nats-api.js";
import { NatsRevocationSink } from "./revocations.js";
import { JetStreamAuthStorage } from "./jetstream-auth-storage.js";

/**
 * How often expired sessions and finished failure windows leave this replica's mirrors. Every minute: failure
 * counters come one per failing source address, so a distributed guessing run must not pile them up for long.
 */
const PRUNE_INTERVAL_MS = 60 * 1000;

runService("auth", loadAuthConfig, async ({ config, logger, runtime, nc }) => {
  const store = await JetStreamAuthStorage.open(nc, { ...storageLifetimes(config), replicas: config.KV_REPLICAS }, logger);
  const service = new AuthService(store, new NatsRevocationSink(nc), config);

  const bootstrap = await service.users.bootstrapAdmin(config.ADMIN_USERNAME, config.ADMIN_PASSWORD);
  if (bootstrap.created) logger.info({ username: config.ADMIN_USERNAME }, "first admin created");
  if (bootstrap.generatedPassword) {
    // Printed once, outside the structured log, so it never lands in log storage by accident of a log shipper.
    process.stderr.write(
      `\nFirst admin created: username "${config.ADMIN_USERNAME}", password "${bootstrap.generatedPassword}"\n` +
        "This password is shown only now. Change it after signing in.\n\n",
    );
  }

  runtime.app.use(createHttpApi({ service, trust: runtime.trust, publicUrl: config.PUBLIC_URL }));
  const subscriptions = serveNatsApi(nc, service, logger);

  const prune = setInterval(() => service.pruneExpired(), PRUNE_INTERVAL_MS);
  prune.unref();
  runtime.onDrain(() => {
    clearInterval(prune);
    // Stop taking NATS requests first; other replicas' queue-group members take over. NATS drains after this.
    for (const sub of subscriptions) sub.unsubscribe();
    store.close();
  });
});
