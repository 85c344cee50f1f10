/**
 * A real HTTP CONNECT proxy (as squid or a corporate proxy would be): records each CONNECT, optionally demands
 * Basic credentials (407 otherwise), and tunnels to the requested host — with test-only name overrides, so an agent
 * can dial `agent.test`, a name only this proxy can resolve, which proves the tunnel was used.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";

export interface ConnectRecord {
  target: string;
  headers: IncomingHttpHeaders;
}

export class ConnectProxy {
  readonly requests: ConnectRecord[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(options: { hosts?: Record<string, string>; credentials?: string } = {}): Promise<ConnectProxy> {
    const server = createServer((_req, res) => {
      res.writeHead(405, { "Content-Type": "text/plain" }).end("CONNECT only\n");
    });
    const proxy = new ConnectProxy(server);
    server.on("connection", (socket: Socket) => proxy.track(socket));
    server.on("connect", (req, clientSocket: Socket, head: Buffer) => {
      const target = req.url ?? "";
      proxy.requests.push({ target, headers: req.headers });
      const expected = options.credentials ? `Basic ${Buffer.from(options.credentials).toString("base64")}` : undefined;
      if (expected && req.headers["proxy-authorization"] !== expected) {
        clientSocket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const match = /^(.+):(\d+)$/.exec(target);
      if (!match) {
        clientSocket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const host = options.hosts?.[match[1] as string] ?? (match[1] as string);
      const upstream = connect({ host, port: Number(match[2]) });
      proxy.track(upstream);
      upstream.once("connect", () => {
        clientSocket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length > 0) upstream.write(head);
        upstream.pipe(clientSocket);
        clientSocket.pipe(upstream);
      });
      upstream.on("error", () => clientSocket.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
      clientSocket.on("error", () => upstream.destroy());
      clientSocket.on("close", () => upstream.destroy());
      upstream.on("close", () => clientSocket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }
}
