import type { IncomingMessage } from "node:http";
import type { RawData } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { CloseCode, CodedError, type CloseCodeValue, type Principal, type RevocationEvent } from "@patchmon-ws/protocol";
import { TestWsClient } from "@patchmon-ws/testkit";
import {
  createLogger,
  LiveSocket,
  OriginPolicy,
  RevocationHub,
  ServiceRuntime,
  UserSocketEndpoint,
  type Revocable,
  type SocketEvents,
  type SocketLike,
  type UserSocketEndpointOptions,
  type UserSocketGrant,
} from "../src/index.js";

const logger = createLogger("user-socket-endpoint-test", "silent");

/** A socket that echoes what it receives: the service-side logic a real endpoint would supply. */
class EchoSocket extends LiveSocket<"revoked"> implements SocketEvents, Revocable {
  closedWith: number | undefined;
  constructor(socket: SocketLike) {
    super(socket);
  }
  onMessage(data: RawData): void {
    void this.write(`echo:${data.toString()}`);
  }
  onClosed(code: number): void {
    this.closedWith = code;
  }
  revoked(code: CloseCodeValue, text: string): void {
    this.end(code, "revoked", text);
  }
}

function principal(userId: string, overrides: Partial<Principal> = {}): Principal {
  return { userId, username: userId, role: "user", permissions: [], sessionId: `${userId}-session`, expiresAt: Date.now() + 60_000, ...overrides };
}

let runtime: ServiceRuntime | undefined;
afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

interface Served {
  url: string;
  origin: string;
  endpoint: UserSocketEndpoint<UserSocketGrant, EchoSocket>;
  hub: RevocationHub;
  asked: string[];
  metrics(): Promise<string>;
}

/** A runtime whose one upgrade handler is the endpoint; `authenticate` grants whoever `?user=` names. */
async function serve(options: Partial<UserSocketEndpointOptions<UserSocketGrant, EchoSocket>> & { grant?: (user: string) => UserSocketGrant } = {}): Promise<Served> {
  runtime = new ServiceRuntime({ name: "endpoint-test", logger, host: "127.0.0.1", port: 0, trustedProxies: [], shutdownTimeoutMs: 2000 });
  const hub = new RevocationHub(logger);
  const asked: string[] = [];
  const endpoint = new UserSocketEndpoint<UserSocketGrant, EchoSocket>({
    what: "echo sockets",
    maxPayload: 1024,
    origins: new OriginPolicy([], runtime.trust),
    trust: runtime.trust,
    revocations: hub,
    maxSockets: 10,
    pingIntervalMs: 30_000,
    logger,
    registry: runtime.registry,
    authenticate: async (req: IncomingMessage) => {
      const user = new URL(req.url ?? "/", "http://x").searchParams.get("user");
      asked.push(user ?? "");
      if (!user) throw new CodedError("CREDENTIALS_MISSING");
      return options.grant?.(user) ?? { principal: principal(user) };
    },
    open: (ws) => new EchoSocket(ws),
    opened: (socket, grant) => void socket.write(`hello ${grant.principal.username}`),
    ...options,
  });
  runtime.setUpgradeHandler(endpoint.handleUpgrade);
  runtime.onDrain(() => endpoint.close());
  const port = await runtime.listen();
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    origin,
    endpoint,
    hub,
    asked,
    metrics: async () => (await fetch(`${origin}/metrics`)).text(),
  };
}

const gaugeLine = (text: string) => text.split("\n").find((line) => line.startsWith('websocket_connections{endpoint="echo sockets"'));

describe("UserSocketEndpoint", () => {
  it("refuses a foreign or missing Origin with 403 ORIGIN_FORBIDDEN before asking who it is", async () => {
    const s = await serve();
    const foreign = await TestWsClient.refusal(`${s.url}?user=alice`, { headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    expect(foreign.json).toMatchObject({ code: "ORIGIN_FORBIDDEN" });
    const missing = await TestWsClient.refusal(`${s.url}?user=alice`);
    expect(missing.status).toBe(403);
    expect(s.asked).toEqual([]);
  });

  it("answers the service's own refusal with its status and JSON body", async () => {
    const s = await serve();
    const refused = await TestWsClient.refusal(s.url, { headers: { origin: s.origin } });
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ code: "CREDENTIALS_MISSING" });
  });

  it("opens an accepted socket, greets it, counts it in the gauge, and releases it on close", async () => {
    const s = await serve();
    const client = await TestWsClient.connect(`${s.url}?user=alice`, { headers: { origin: s.origin } });
    await client.waitFor((m) => m === "hello alice");
    client.send("ping-1");
    await client.waitFor((m) => m === "echo:ping-1");
    expect(s.endpoint.size).toBe(1);
    expect(gaugeLine(await s.metrics())).toMatch(/ 1$/);
    client.close();
    await client.closed;
    await expect.poll(() => s.endpoint.size).toBe(0);
    expect(gaugeLine(await s.metrics())).toMatch(/ 0$/);
  });

  it("caps sockets per user (429 RATE_LIMITED) and per process (503 OVERLOADED), with Retry-After", async () => {
    const s = await serve({ maxSockets: 2, maxSocketsPerUser: 1 });
    const headers = { origin: s.origin };
    const first = await TestWsClient.connect(`${s.url}?user=alice`, { headers });
    const perUser = await TestWsClient.refusal(`${s.url}?user=alice`, { headers });
    expect(perUser.status).toBe(429);
    expect(perUser.json).toMatchObject({ code: "RATE_LIMITED" });
    expect(Number(perUser.retryAfter)).toBeGreaterThan(0);
    const second = await TestWsClient.connect(`${s.url}?user=bob`, { headers });
    const total = await TestWsClient.refusal(`${s.url}?user=carol`, { headers });
    expect(total.status).toBe(503);
    expect(total.json).toMatchObject({ code: "OVERLOADED" });
    expect(Number(total.retryAfter)).toBeGreaterThan(0);
    first.close();
    await first.closed;
    await expect.poll(() => s.endpoint.size).toBe(1);
    const again = await TestWsClient.connect(`${s.url}?user=alice`, { headers });
    again.close();
    second.close();
  });

  it("closes a user's sockets the moment a revocation of the user or the session arrives", async () => {
    const s = await serve();
    const headers = { origin: s.origin };
    const alice = await TestWsClient.connect(`${s.url}?user=alice`, { headers });
    const bob = await TestWsClient.connect(`${s.url}?user=bob`, { headers });
    const event: RevocationEvent = { kind: "session", id: "alice-session", reason: "logout", at: Date.now() };
    expect(s.hub.apply(event)).toBe(1);
    expect(await alice.closed).toMatchObject({ code: CloseCode.CREDENTIALS_REVOKED, reason: expect.stringContaining("logout") });
    await expect.poll(() => s.endpoint.size).toBe(1);
    expect(s.hub.apply({ kind: "user", id: "bob", reason: "user_disabled", at: Date.now() })).toBe(1);
    expect((await bob.closed).code).toBe(CloseCode.CREDENTIALS_REVOKED);
    await expect.poll(() => s.hub.tracked).toEqual({ users: 0, sessions: 0, hosts: 0 });
  });

  it("closes a socket with 1008 when its credential expires", async () => {
    const s = await serve({ grant: (user) => ({ principal: principal(user), expiresAt: Date.now() + 200 }) });
    const client = await TestWsClient.connect(`${s.url}?user=alice`, { headers: { origin: s.origin } });
    expect(await client.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: "authentication expired; reconnect" });
  });

  it("drains with 1012 so clients reconnect to another replica", async () => {
    const s = await serve();
    const client = await TestWsClient.connect(`${s.url}?user=alice`, { headers: { origin: s.origin } });
    await runtime!.shutdown();
    runtime = undefined;
    expect((await client.closed).code).toBe(CloseCode.SERVICE_RESTART);
  });

  it("takes a non-browser endpoint without an Origin when origins is null", async () => {
    const s = await serve({ origins: null });
    const client = await TestWsClient.connect(`${s.url}?user=agent`);
    await client.waitFor((m) => m === "hello agent");
    client.close();
  });
});
