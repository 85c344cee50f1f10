import { startDaemon, type DaemonOptions, type TestDaemon } from "./daemon.js";

export type TestNatsServer = TestDaemon;

/** Starts a private nats-server with JetStream on a free port, data in a temporary folder (or `options.dataDir`). */
export function startNatsServer(options: DaemonOptions = {}): Promise<TestNatsServer> {
  return startDaemon(
    {
      binary: "nats-server",
      debianPackage: "nats-server",
      scheme: "nats",
      args: (port, dir) => ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
      ready: /Server is ready/,
    },
    options,
  );
}
