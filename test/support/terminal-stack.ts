/**
 * A whole stack for terminal tests: auth, terminal-ws (and agent-ws when asked) behind the local TLS edge, a real
 * OpenSSH sshd, and helpers that do what the web UI does: sign in, ask for a one-time ticket, open the terminal.
 */
import { localEdge } from "@patchmon-ws/edge";
import { startSshd, TerminalTestClient, TestWsClient, WsRefused, type TestSshd, type WsClientOptions } from "@patchmon-ws/testkit";
import { startStack, type Stack, type StackOptions, type StackServiceSpec } from "@patchmon-ws/stack";
import type { CreatedHostResponse, HostRecord, Permission } from "@patchmon-ws/protocol";
import { ReferenceAgent } from "@patchmon-ws/agent";

export interface TerminalStackOptions {
  /** Services besides auth and terminal-ws (e.g. agent-ws replicas for proxy mode). */
  services?: readonly (string | StackServiceSpec)[];
  terminalEnv?: Record<string, string>;
  terminalReplicas?: number;
  sshd?: Parameters<typeof startSshd>[0];
  /** More startStack options (a NATS cluster, restarts, per-service variables merged over the defaults here). */
  stack?: Omit<StackOptions, "services" | "edge">;
}

export interface SignedIn {
  token: string;
  userId: string;
  username: string;
  password: string;
}

let counter = 0;

export class TerminalStack {
  private constructor(
    readonly stack: Stack,
    readonly sshd: TestSshd,
  ) {}

  static async start(options: TerminalStackOptions = {}): Promise<TerminalStack> {
    const sshd = await startSshd(options.sshd ?? { keyboardInteractive: true });
    try {
      const stack = await startStack({
        timeoutMs: 60_000,
        ...options.stack,
        services: options.services ?? ["auth", { name: "terminal-ws", replicas: options.terminalReplicas ?? 1 }],
        edge: localEdge({ healthCheckIntervalMs: 500 }),
        serviceEnv: { ...options.stack?.serviceEnv, "terminal-ws": { RECORD_SESSIONS: "true", ...options.stack?.serviceEnv?.["terminal-ws"], ...options.terminalEnv } },
      });
      return new TerminalStack(stack, sshd);
    } catch (err) {
      await sshd.dispose();
      throw err;
    }
  }

  get edgeUrl(): string {
    return this.stack.edgeUrl!;
  }

  get ca(): string {
    return this.stack.edge!.certificate;
  }

  /** The same-origin Origin header a browser on the edge's page sends. */
  get origin(): string {
    return this.edgeUrl;
  }

  adminToken(): Promise<string> {
    return this.stack.auth.adminToken();
  }

  /** A host whose SSH target is the test sshd (or another address/port). */
  async createHost(name: string, ssh: { address?: string; port?: number; username?: string } | null = {}): Promise<CreatedHostResponse> {
    const token = await this.adminToken();
    return this.stack.auth.client.createHost(token, {
      name: `${name}-${++counter}`,
      ...(ssh === null ? {} : { ssh: { address: ssh.address ?? this.sshd.host, port: ssh.port ?? this.sshd.port, username: ssh.username ?? this.sshd.user.username } }),
    });
  }

  /** The reference agent of a created host, connecting through the edge, not yet started; a known_hosts file lets it proxy SSH. */
  agentFor(created: CreatedHostResponse, sshProxyKnownHostsFile?: string): ReferenceAgent {
    const agent = new ReferenceAgent({
      server: this.edgeUrl,
      ca: this.ca,
      apiId: created.host.apiId,
      apiKey: created.apiKey,
      backoff: { initialMs: 200, maxMs: 1000 },
      ...(sshProxyKnownHostsFile ? { sshProxy: { enabled: true, knownHostsFile: sshProxyKnownHostsFile } } : {}),
    });
    // Connection errors are expected while replicas die; the tests watch presence instead.
    agent.on("error", () => undefined);
    return agent;
  }

  async getHost(id: string): Promise<HostRecord> {
    return this.stack.auth.client.getHost(await this.adminToken(), id);
  }

  /** A new user with these permissions, signed in. */
  async user(permissions: Permission[] = ["can_use_ssh_terminal"]): Promise<SignedIn> {
    const admin = await this.adminToken();
    const username = `operator-${++counter}-${Date.now().toString(36)}`;
    const password = `pw-${Math.random().toString(36).slice(2)}-long`;
    const user = await this.stack.auth.client.createUser(admin, { username, password, permissions });
    const login = await this.stack.auth.client.login(username, password);
    return { token: login.accessToken, userId: user.id, username, password };
  }

  ticket(token: string, hostId: string): Promise<string> {
    return this.stack.auth.client.ticket(token, "ssh-terminal", hostId);
  }

  terminalUrl(hostId: string, ticket: string | undefined, version = "v1"): string {
    return `${this.edgeUrl.replace(/^https/, "wss")}/api/${version}/ssh-terminal/${hostId}${ticket === undefined ? "" : `?ticket=${ticket}`}`;
  }

  socketOptions(extra: WsClientOptions = {}): WsClientOptions {
    return { ca: this.ca, ...extra, headers: { origin: this.origin, ...extra.headers } };
  }

  /** Opens a terminal as the web UI does: a fresh ticket, then the socket through the edge. */
  async open(hostId: string, token?: string): Promise<TerminalTestClient> {
    const ticket = await this.ticket(token ?? (await this.adminToken()), hostId);
    return TerminalTestClient.open(this.terminalUrl(hostId, ticket), this.socketOptions());
  }

  /** Opens and connects with the sshd's password user. */
  async shell(hostId: string, token?: string, connect: Record<string, unknown> = {}): Promise<TerminalTestClient> {
    const terminal = await this.open(hostId, token);
    terminal.connect({ username: this.sshd.user.username, password: this.sshd.user.password, cols: 100, rows: 30, ...connect });
    await terminal.connected();
    return terminal;
  }

  /** An upgrade that must be refused: its status and JSON body. */
  async refusal(url: string, options: WsClientOptions = this.socketOptions()): Promise<WsRefused> {
    return TestWsClient.refusal(url, options);
  }

  /** An admin API call through the edge. */
  async api<T = unknown>(path: string, token?: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T; text: string; headers: Headers }> {
    const { request } = await import("node:https");
    const bearer = token ?? (await this.adminToken());
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.edgeUrl}${path}`,
        { method: init.method ?? "GET", ca: this.ca, headers: { authorization: `Bearer ${bearer}`, ...(init.body ? { "content-type": "application/json" } : {}) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            let body: unknown = undefined;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = undefined;
            }
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
            resolve({ status: res.statusCode ?? 0, body: body as T, text, headers });
          });
        },
      );
      req.on("error", reject);
      if (init.body) req.write(JSON.stringify(init.body));
      req.end();
    });
  }

  async stop(): Promise<void> {
    await this.stack.stop();
    await this.sshd.dispose();
  }
}

export { eventually } from "@patchmon-ws/testkit";
