import { Agent } from "node:http";
import { connect, type Socket } from "node:net";
import type { Upstream, UpstreamPool } from "./upstream-pool.js";

/**
 * An http.Agent that hands the request a socket connected beforehand. Connecting first is what makes failover safe:
 * a replica that refuses the connection has received nothing, so the request (body included, still unread) can go
 * to the next replica.
 */
export class PreconnectedAgent extends Agent {
  constructor(private readonly socket: Socket) {
    super({ keepAlive: false });
  }

  override createConnection(): Socket {
    return this.socket;
  }
}

/** Opens a TCP connection to an upstream; rejects on refusal, unreachability or after `timeoutMs`. */
export function connectTo(url: URL, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const socket = connect({ host, port: Number(url.port || 80) });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), { code: "ETIMEDOUT" })), timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      // Until the HTTP client takes the socket over (and adds its own listener), an error must not crash the process.
      socket.on("error", () => socket.destroy());
      resolve(socket);
    });
  });
}

export interface UpstreamConnection {
  readonly upstream: Upstream;
  readonly socket: Socket;
}

/**
 * Connects to the next healthy replica, marking down and skipping each that fails to connect, until one accepts
 * or none is left (undefined).
 */
export async function connectToLiveUpstream(
  pool: UpstreamPool,
  timeoutMs: number,
  onFailure: (upstream: Upstream, error: NodeJS.ErrnoException, changed: boolean) => void,
): Promise<UpstreamConnection | undefined> {
  const tried = new Set<Upstream>();
  for (;;) {
    const upstream = pool.next(tried);
    if (!upstream) return undefined;
    tried.add(upstream);
    try {
      return { upstream, socket: await connectTo(upstream.url, timeoutMs) };
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      onFailure(upstream, error, pool.markDown(upstream, error.code ?? error.message));
    }
  }
}
