import { startDaemon, type DaemonOptions, type TestDaemon } from "./daemon.js";

export type TestRedisServer = TestDaemon;

export interface RedisServerOptions extends DaemonOptions {
  /** Append-only file in the data folder, so queues survive a restart of `npm start`; default off (tests). */
  persist?: boolean;
}

/** Starts a private redis-server on a free port, as BullMQ wants it (noeviction); no persistence unless asked. */
export function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const persistence = options.persist ? ["--appendonly", "yes"] : ["--save", "", "--appendonly", "no"];
  return startDaemon(
    {
      binary: "redis-server",
      debianPackage: "redis-server",
      scheme: "redis",
      args: (port, dir) => ["--port", String(port), "--bind", "127.0.0.1", ...persistence, "--dir", dir, "--maxmemory-policy", "noeviction"],
      ready: /Ready to accept connections/,
    },
    options,
  );
}
