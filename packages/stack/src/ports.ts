import { connect, createServer } from "node:net";

/**
 * A TCP port free on 127.0.0.1 right now (the OS picks it). The port is closed again before it is returned, so
 * another process (a parallel test worker) may take it first: only use it for something that retries with another
 * port when the bind fails (see `withFreePort`). Anything that can bind port 0 itself should do that instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A bind failed because the port is taken; `withFreePort` retries with another one. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    detail = "",
  ) {
    super(`port ${port} is already in use${detail ? `:\n${detail}` : ""}`);
  }
}

/** What daemons print when their listen fails on a taken port (nats-server, redis-server, sshd, Node). */
export const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

/**
 * Runs `start` on a free port, and again on another one while it fails with PortInUseError: for daemons that
 * cannot bind port 0 and report the port they got (nats-server, redis-server, sshd).
 */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= attempts) throw err;
    }
  }
}

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
