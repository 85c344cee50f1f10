/**
 * One browser terminal session: a fresh one-time ticket, then the PatchMon terminal protocol over `wss:` when the
 * page is https and `ws:` when it is http (same origin, so the Origin check passes and no secret is ever kept in a
 * URL of the page). Messages are validated with the protocol's schemas.
 */
import "./zod-setup.js";
import {
  TerminalServerMessage,
  type ConnectionMode,
  type TerminalServerMessageOf,
  type TicketResponse,
} from "@patchmon-ws/protocol";
import { api } from "./api.js";

export interface ConnectParams {
  mode: ConnectionMode;
  username: string;
  cols: number;
  rows: number;
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

export interface TerminalHandlers {
  connected(message: TerminalServerMessageOf<"connected">): void;
  data(text: string): void;
  error(message: TerminalServerMessageOf<"error">): void;
  warning(message: TerminalServerMessageOf<"warning">): void;
  prompt(message: TerminalServerMessageOf<"auth_prompt">): void;
  /** The socket closed: `closed` is the server's last message if it sent one. */
  closed(code: number, closed: TerminalServerMessageOf<"closed"> | undefined): void;
}

export function terminalUrl(hostId: string, ticket: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ssh-terminal/${encodeURIComponent(hostId)}?ticket=${encodeURIComponent(ticket)}`;
}

export class TerminalConnection {
  private lastClosed: TerminalServerMessageOf<"closed"> | undefined;

  private constructor(private readonly socket: WebSocket) {}

  /** Asks for a ticket, opens the socket and sends `connect`; the handlers hear the rest. */
  static async open(hostId: string, params: ConnectParams, handlers: TerminalHandlers): Promise<TerminalConnection> {
    const { ticket } = await api<TicketResponse>("POST", "/api/v1/auth/ticket", { body: { purpose: "ssh-terminal", target: hostId } });
    const socket = new WebSocket(terminalUrl(hostId, ticket));
    const connection = new TerminalConnection(socket);
    socket.addEventListener("open", () => {
      socket.send(
        JSON.stringify({
          type: "connect",
          connection_mode: params.mode,
          username: params.username,
          cols: params.cols,
          rows: params.rows,
          ...(params.privateKey ? { privateKey: params.privateKey, ...(params.passphrase ? { passphrase: params.passphrase } : {}) } : { password: params.password ?? "" }),
        }),
      );
    });
    socket.addEventListener("message", (event: MessageEvent<string>) => {
      const parsed = TerminalServerMessage.safeParse(JSON.parse(event.data));
      if (!parsed.success) return;
      const message = parsed.data;
      switch (message.type) {
        case "connected":
          return handlers.connected(message);
        case "data":
          return handlers.data(message.data);
        case "error":
          return handlers.error(message);
        case "warning":
          return handlers.warning(message);
        case "auth_prompt":
          return handlers.prompt(message);
        case "closed":
          connection.lastClosed = message;
          return;
      }
    });
    socket.addEventListener("close", (event) => handlers.closed(event.code, connection.lastClosed));
    return connection;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  input(data: string): void {
    if (this.open) this.socket.send(JSON.stringify({ type: "input", data }));
  }

  resize(cols: number, rows: number): void {
    if (this.open) this.socket.send(JSON.stringify({ type: "resize", cols, rows }));
  }

  respond(responses: string[]): void {
    if (this.open) this.socket.send(JSON.stringify({ type: "auth_response", responses }));
  }

  /** Ends the session the protocol's way (the server answers `closed` and closes with 1000). */
  disconnect(): void {
    if (this.open) this.socket.send(JSON.stringify({ type: "disconnect" }));
    else this.socket.close();
  }
}
