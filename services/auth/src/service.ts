import type { ServiceContext } from "@patchmon-ws/service-kit";
import { AuthCore, storageLifetimes } from "./auth-core.js";
import type { AuthConfig } from "./config.js";
import { createHttpApi } from "./http-api.js";
import { serveNatsApi } from "./nats-api.js";
import { NatsRevocationSink } from "./revocations.js";
import { JetStreamAuthStorage } from "./jetstream-auth-storage.js";

/**
 * How often expired sessions and finished failure windows leave this replica's mirrors. Every minute: failure
 * counters come one per failing source address, so a distributed guessing run must not pile them up for long.
 */
const PRUNE_INTERVAL_MS = 60 * 1000;

/** Wires auth: its storage and core, the first admin, the REST API, the NATS verification API, pruning and the drain. */
export async function setupAuth({ config, logger, runtime, nc }: ServiceContext<AuthConfig>): Promise<void> {
  const store = await JetStreamAuthStorage.open(nc, { ...storageLifetimes(config), replicas: config.KV_REPLICAS }, logger);
  const core = new AuthCore(store, new NatsRevocationSink(nc), config);

  const bootstrap = await core.users.bootstrapAdmin(config.ADMIN_USERNAME, config.ADMIN_PASSWORD);
  if (bootstrap.created) logger.info({ username: config.ADMIN_USERNAME }, "first admin created");
  if (bootstrap.generatedPassword) {
    // Printed once, outside the structured log, so it never lands in log storage by accident of a log shipper.
    process.stderr.write(
      `\nFirst admin created: username "${config.ADMIN_USERNAME}", password "${bootstrap.generatedPassword}"\n` +
        "This password is shown only now. Change it after signing in.\n\n",
    );
  }

  runtime.app.use(createHttpApi({ core, trust: runtime.trust, publicUrl: config.PUBLIC_URL }));
  const subscriptions = serveNatsApi(nc, core, logger);

  const prune = setInterval(() => core.pruneExpired(), PRUNE_INTERVAL_MS);
  prune.unref();
  runtime.onDrain(() => {
    clearInterval(prune);
    // Stop taking NATS requests first; other replicas' queue-group members take over. NATS drains after this.
    for (const sub of subscriptions) sub.unsubscribe();
    store.close();
  });
}
