import { startDaemon, type TestDaemon } from "./daemon.js";

export type TestRedisServer = TestDaemon;

/** Starts a private redis-server on a free port (no persistence), as BullMQ wants it (noeviction). */
export function startRedisServer(): Promise<TestRedisServer> {
  return startDaemon({
    binary: "redis-server",
    debianPackage: "redis-server",
    scheme: "redis",
    args: (port, dir) => ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--maxmemory-policy", "noeviction"],
    ready: /Ready to accept connections/,
  });
}
