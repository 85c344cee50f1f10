/**
 * Shared by the bullboard integration tests: a real stack (nats-server, redis-server, the auth service and the
 * bullboard service as processes, through packages/stack's startStack), dashboard sessions obtained through the real
 * ticket flow, and a live-event socket client that collects messages (testkit's TestWsClient).
 */
import { createHmac, randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { Queue, Worker, type Job } from "bullmq";
import { TestWsClient, type WsClose } from "@patchmon-ws/testkit";
import { startStack, type RunningAuth, type RunningService, type TestNatsServer, type TestRedisServer } from "@patchmon-ws/stack";

export interface BullboardStack {
  nats: TestNatsServer;
  redis: TestRedisServer;
  auth: RunningAuth;
  board: RunningService;
  /** Starts another bullboard process on the same NATS and Redis. */
  startBoard(env?: Record<string, string>): Promise<RunningService>;
  close(): Promise<void>;
}

/** startStack (packages/stack) with auth and one bullboard, its discovery and reconnection timings shortened for tests. */
export async function startBullboardStack(options: { authEnv?: Record<string, string>; boardEnv?: Record<string, string> } = {}): Promise<BullboardStack> {
  const stack = await startStack({
    services: [
      { name: "auth", env: options.authEnv ?? {} },
      {
        name: "bullboard",
        env: { QUEUE_DISCOVERY_INTERVAL_MS: "300", REDIS_RECONNECT_MAX_MS: "500", COUNTS_MIN_INTERVAL_MS: "50", ...options.boardEnv },
      },
    ],
  });
  return {
    nats: stack.nats!,
    redis: stack.redis!,
    auth: stack.auth,
    board: stack.service("bullboard"),
    startBoard: (env = {}) => stack.startReplica("bullboard", env),
    close: () => stack.stop(),
  };
}

export interface BoardSession {
  /** The dashboard token (the session cookie's value). */
  token: string;
  csrf: string;
  /** Ready for a Cookie header. */
  cookie: string;
  setCookies: string[];
}

/** The real sign-in: a bullboard ticket from auth, exchanged at /bullboard?ticket=… for the session cookies. */
export async function boardSession(board: RunningService, auth: RunningAuth, accessToken: string): Promise<BoardSession> {
  const ticket = await auth.client.ticket(accessToken, "bullboard");
  const res = await fetch(`${board.url}/bullboard?ticket=${ticket}`, { redirect: "manual" });
  if (res.status !== 303) throw new Error(`ticket exchange answered ${res.status}: ${await res.text()}`);
  const setCookies = res.headers.getSetCookie();
  const value = (name: string) => setCookies.find((c) => c.startsWith(`${name}=`))?.split(";")[0]?.slice(name.length + 1) ?? "";
  const token = value("pmws_bullboard");
  const csrf = value("XSRF-TOKEN");
  return { token, csrf, cookie: `pmws_bullboard=${token}; XSRF-TOKEN=${csrf}`, setCookies };
}

export async function createUserSession(
  auth: RunningAuth,
  permissions: string[],
  role: "admin" | "user" = "user",
): Promise<{ id: string; username: string; password: string; accessToken: string }> {
  const username = `u${randomBytes(5).toString("hex")}`;
  const password = `pw-${randomBytes(10).toString("hex")}`;
  const user = await auth.client.createUser(await auth.adminToken(), { username, password, role, permissions });
  const login = await auth.client.login(username, password);
  return { id: user.id, username, password, accessToken: login.accessToken };
}

export async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the assertion message
  }
  return { status: res.status, body, headers: res.headers };
}

/** A JWT's claims, decoded without verification. */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

/** An HS256 JWT with the given claims, signed with `secret`. */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** Polls until `check` returns a truthy value, or throws after `timeoutMs` (testkit's eventually). */
export { eventually as waitUntil } from "@patchmon-ws/testkit";

export type EventMessage = Record<string, any> & { type: string };

/** A refused live-event socket: status, headers, body text and its JSON (testkit's WsRefused). */
export { WsRefused as UpgradeRejected } from "@patchmon-ws/testkit";

/** A live-event socket client that keeps every message it receives (testkit's TestWsClient). */
export class EventClient {
  private constructor(private readonly client: TestWsClient<EventMessage>) {}

  static async open(url: string, headers: Record<string, string>): Promise<EventClient> {
    return new EventClient(await TestWsClient.connect<EventMessage>(url, { headers }));
  }

  get ws(): TestWsClient["ws"] {
    return this.client.ws;
  }

  get messages(): EventMessage[] {
    return this.client.messages;
  }

  get closed(): Promise<WsClose> {
    return this.client.closed;
  }

  /** Resolves with the first message at or after index `since` that matches, waiting up to `timeoutMs`. */
  waitFor(predicate: (m: EventMessage) => boolean, timeoutMs = 15_000, what = "message", since = 0): Promise<EventMessage> {
    return this.client.waitFor(predicate, { timeoutMs, what, since });
  }

  jobEvents(queue: string, jobId: string, since = 0): string[] {
    return this.messages.slice(since).filter((m) => m.type === "job" && m.queue === queue && m.jobId === jobId).map((m) => m.event as string);
  }

  close(): void {
    this.client.terminate();
  }
}

export function eventsUrl(board: RunningService): string {
  return `ws://127.0.0.1:${board.port}/bullboard/events`;
}

export function sameOrigin(board: RunningService): string {
  return `http://127.0.0.1:${board.port}`;
}

/** A BullMQ producer and a worker for a queue on the test Redis: jobs with data {fail:true} throw. */
export class QueueFixture {
  readonly queue: Queue;
  private worker: Worker | undefined;
  private readonly connections: Redis[] = [];

  constructor(
    readonly name: string,
    private readonly redisUrl: string,
  ) {
    this.queue = new Queue(name, { connection: this.connection() });
    this.queue.on("error", () => undefined);
  }

  startWorker(): void {
    this.worker = new Worker(
      this.name,
      async (job: Job) => {
        await job.updateProgress(50);
        if ((job.data as { fail?: boolean }).fail) throw new Error("deliberate failure");
        return { ok: true };
      },
      { connection: this.connection() },
    );
    this.worker.on("error", () => undefined);
  }

  async close(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    for (const c of this.connections) c.disconnect();
  }

  private connection(): Redis {
    const connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    connection.on("error", () => undefined);
    this.connections.push(connection);
    return connection;
  }
}
