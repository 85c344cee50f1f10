/**
 * startStack(): the one way to run the system for tests, benchmarks and `npm start`.
 *
 * Options (all optional):
 *   natsUrl / redisUrl   connect to these instead of starting nats-server / redis-server
 *   natsCluster          start a JetStream cluster of this many nats-server nodes instead of one (set the services'
 *                        KV_REPLICAS yourself, e.g. env: { KV_REPLICAS: "3" })
 *   stateDir             keep NATS and Redis data (and, with logDir unset, logs) here; default a temporary folder
 *                        removed by stop(). With a stateDir, Redis persists (append-only file).
 *   logDir               one log file per process (nats-server.log, redis-server.log, <service>-<n>.log)
 *   services             which services, in the order given (auth is always started first); each a name or
 *                        { name, entry?, replicas?, env? }; default every services/<name>/src/main.ts
 *   replicas             replica counts by service name, e.g. { "agent-ws": 2 } (STACK_SCALE); 0 starts none
 *                        (add them later with startReplica)
 *   env                  variables for every service (after the stack's own, before per-service ones)
 *   serviceEnv           variables per service name
 *   admin / jwtSecret    the first admin's login and auth's signing key; default random
 *   cheapPasswordHashes  default true: PASSWORD_HASH_COST=12 so logins in tests are fast; npm start passes false
 *   edge                 a starter for the local TLS edge, run in this process and routing to every replica:
 *                        `edge: localEdge({ healthCheckIntervalMs: 500 })` with localEdge from @patchmon-ws/edge.
 *                        The stack does not import the edge (packages never depend on what sits above them); it
 *                        hands the starter a free port and a state folder and tells it each service's replicas
 *                        as they come up
 *   publicUrl            PUBLIC_URL for the services; default https://localhost:<edge port> with an edge
 *   restartOnExit        a replica that dies is started again after 2 s (npm start); default off (tests kill
 *                        replicas on purpose)
 *   onLog                progress lines ("nats-server on …"); default silent
 *   onStderr             every service's stderr, e.g. to show it on a terminal
 *   timeoutMs            per process start-up; default 30 s (60 s suits a cold machine)
 *   compiled             run each service's compiled JavaScript (`npm run build`) with plain node, as production
 *                        does (benchmarks); default false: the TypeScript source through tsx
 *
 * Benchmarks use the same options: e.g. `startStack({ services: ["auth", "agent-ws"], replicas: { "agent-ws": 0 } })`
 * then `startReplica("agent-ws", { MAX_PENDING_UPGRADES: "5000" }, { port })` to restart a replica on a fixed port.
 *
 * Adding a service (terminal-ws, web): give it a SERVICE_DEFAULTS entry if it needs more than NATS_URL,
 * REDIS_URL and PUBLIC_URL, or an `entry` if its main is not services/<name>/src/main.ts; the edge routes to it by
 * the same name as proxy/src/routes.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthHttpClient, type RunningAuth } from "./auth-client.js";
import { startNatsCluster, type TestNatsCluster } from "./nats-cluster.js";
import { startNatsServer, type TestNatsServer } from "./nats-server.js";
import { PortInUseError } from "./ports.js";
import { startRedisServer, type TestRedisServer } from "./redis-server.js";
import { REPO_ROOT, startService, type RunningService, type StartServiceOptions } from "./services.js";

export interface StackServiceSpec {
  name: string;
  /** Entry file relative to the repository root; default services/<name>/src/main.ts. */
  entry?: string;
  replicas?: number;
  env?: Record<string, string>;
}

/** What the stack needs of the TLS edge it runs (the local edge of @patchmon-ws/edge is one). */
export interface StackEdge {
  readonly url: string;
  readonly port: number;
  /** The edge's certificate (PEM), for clients that must trust it. */
  readonly certificate: string;
  /** Routes a service's traffic to these replica URLs from now on. */
  setUpstreams(service: string, urls: readonly string[]): void;
  close(): Promise<void>;
}

/** Starts the edge on `port` (0: a free one), keeping its own files (a self-signed certificate) in `stateDir`. */
export type StackEdgeStarter = (init: { port: number; stateDir: string }) => Promise<StackEdge>;

export interface StackOptions {
  natsUrl?: string;
  redisUrl?: string;
  natsCluster?: number;
  stateDir?: string;
  logDir?: string;
  services?: readonly (string | StackServiceSpec)[];
  replicas?: Readonly<Record<string, number>>;
  env?: Record<string, string>;
  serviceEnv?: Readonly<Record<string, Record<string, string>>>;
  admin?: { username?: string; password?: string };
  jwtSecret?: string;
  cheapPasswordHashes?: boolean;
  edge?: StackEdgeStarter;
  /** Run the services' built JavaScript under plain node (see StartServiceOptions.compiled). */
  compiled?: boolean;
  publicUrl?: string;
  restartOnExit?: boolean;
  onLog?: (line: string) => void;
  onStderr?: (replica: string, text: string) => void;
  timeoutMs?: number;
}

export interface Stack {
  natsUrl: string;
  redisUrl: string;
  /** The servers this stack started; undefined when it connected to a given URL. */
  nats: TestNatsServer | undefined;
  /** The cluster this stack started (natsCluster), else undefined. */
  natsCluster: TestNatsCluster | undefined;
  redis: TestRedisServer | undefined;
  /** Live replicas by service name (a restarted replica replaces its entry). */
  services: Record<string, RunningService[]>;
  /** The first replica of a service; throws if there is none. */
  service(name: string): RunningService;
  /** The auth service (its first replica), an AuthHttpClient on it and the admin login. */
  auth: RunningAuth;
  admin: { username: string; password: string };
  jwtSecret: string;
  edge: StackEdge | undefined;
  /** The edge's URL as printed (https://localhost:<port>), or undefined without an edge. */
  edgeUrl: string | undefined;
  /** Starts one more replica of a service (registered with the edge). */
  startReplica(name: string, env?: Record<string, string>, options?: Pick<StartServiceOptions, "port">): Promise<RunningService>;
  /** The edge (if any) first, then services, then Redis and NATS; removes a temporary state folder. */
  stop(): Promise<void>;
}

/** Context a service's default variables are computed from. */
interface StackContext {
  natsUrl: string;
  redisUrl: string;
  admin: { username: string; password: string };
  jwtSecret: string;
  cheapPasswordHashes: boolean;
}

/** What each service needs beyond NATS_URL, REDIS_URL and PUBLIC_URL. */
const SERVICE_DEFAULTS: Record<string, (ctx: StackContext) => Record<string, string>> = {
  auth: (ctx) => ({
    JWT_SECRET: ctx.jwtSecret,
    ADMIN_USERNAME: ctx.admin.username,
    ADMIN_PASSWORD: ctx.admin.password,
    ...(ctx.cheapPasswordHashes ? { PASSWORD_HASH_COST: "12" } : {}),
  }),
};

const RESTART_DELAY_MS = 2000;

/** Every services/<name> with a src/main.ts, auth first (the others verify credentials through it). */
export function discoverServices(): string[] {
  const dir = join(REPO_ROOT, "services");
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, "src", "main.ts")))
    .sort((a, b) => (a === "auth" ? -1 : b === "auth" ? 1 : a.localeCompare(b)));
}

/** Parses STACK_SCALE (`agent-ws=2,bullboard=1`); throws naming the bad entry. */
export function parseScale(text: string | undefined, known: readonly string[]): Record<string, number> {
  const scale: Record<string, number> = {};
  for (const part of (text ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, count] = part.split("=");
    const replicas = Number(count);
    if (!name || !Number.isInteger(replicas) || replicas < 1 || replicas > 16) throw new Error(`STACK_SCALE: bad entry ${JSON.stringify(part)} (want name=1..16)`);
    if (!known.includes(name)) throw new Error(`STACK_SCALE names ${name}, which is not a service (${known.join(", ")})`);
    scale[name] = replicas;
  }
  return scale;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const say = options.onLog ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const ownState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "patchmon-ws-stack-"));
  const logDir = options.logDir;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const specs = (options.services ?? discoverServices()).map((s) => (typeof s === "string" ? { name: s } : s));
  const ordered = [...specs.filter((s) => s.name === "auth"), ...specs.filter((s) => s.name !== "auth")];
  const admin = { username: options.admin?.username ?? "admin", password: options.admin?.password ?? `pw-${randomBytes(12).toString("hex")}` };
  const jwtSecret = options.jwtSecret ?? randomBytes(32).toString("hex");

  let stopping = false;
  // Reverse start order: the edge stops accepting first, then every replica (in parallel), then Redis and NATS.
  let stopEdge: (() => Promise<unknown>) | undefined;
  const replicaStoppers: (() => Promise<unknown>)[] = [];
  const daemonStoppers: (() => Promise<unknown>)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      await stopEdge?.().catch(() => undefined);
      await Promise.allSettled(replicaStoppers.map((s) => s()));
      for (const stopOne of daemonStoppers.reverse()) await stopOne().catch(() => undefined);
      if (ownState) rmSync(stateDir, { recursive: true, force: true });
    })());

  try {
    let nats: TestNatsServer | undefined;
    let natsCluster: TestNatsCluster | undefined;
    let redis: TestRedisServer | undefined;
    const logFile = (name: string) => (logDir ? { logFile: join(logDir, `${name}.log`) } : {});
    if (!options.natsUrl && options.natsCluster) {
      natsCluster = await startNatsCluster({ size: options.natsCluster, dataDir: join(stateDir, "nats-cluster") });
      daemonStoppers.push(() => natsCluster!.dispose());
      say(`nats-server cluster (JetStream, ${options.natsCluster} nodes) on ${natsCluster.url}`);
    } else if (!options.natsUrl) {
      nats = await startNatsServer({ dataDir: join(stateDir, "nats"), ...logFile("nats-server") });
      daemonStoppers.push(() => nats!.dispose());
      say(`nats-server (JetStream) on ${nats.url}, data in ${nats.dataDir}`);
    }
    if (!options.redisUrl) {
      redis = await startRedisServer({ dataDir: join(stateDir, "redis"), persist: !ownState, ...logFile("redis-server") });
      daemonStoppers.push(() => redis!.dispose());
      say(`redis-server on ${redis.url}, data in ${redis.dataDir}`);
    }
    const natsUrl = options.natsUrl ?? natsCluster?.url ?? nats!.url;
    const redisUrl = options.redisUrl ?? redis!.url;
    const context: StackContext = { natsUrl, redisUrl, admin, jwtSecret, cheapPasswordHashes: options.cheapPasswordHashes ?? true };

    // The edge first, so its port (and PUBLIC_URL) is known before the services start; replicas join it as they come up.
    let edge: StackEdge | undefined;
    if (options.edge) {
      edge = await options.edge({ port: 0, stateDir: join(stateDir, "edge") });
      const started = edge;
      stopEdge = () => started.close();
    }
    const edgeUrl = edge ? `https://localhost:${edge.port}` : undefined;
    const publicUrl = options.publicUrl ?? edgeUrl;

    const services: Record<string, RunningService[]> = {};
    const entries = new Map(specs.map((s) => [s.name, s]));
    const publish = (name: string) => edge?.setUpstreams(name, (services[name] ?? []).map((r) => r.url));
    const envFor = (name: string, extra: Record<string, string> = {}) => ({
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      ...(publicUrl ? { PUBLIC_URL: publicUrl } : {}),
      ...SERVICE_DEFAULTS[name]?.(context),
      ...options.env,
      ...options.serviceEnv?.[name],
      ...entries.get(name)?.env,
      ...extra,
    });

    const counter: Record<string, number> = {};
    const startReplica = async (name: string, extra: Record<string, string> = {}, replicaOptions: Pick<StartServiceOptions, "port"> = {}) => {
      const index = (counter[name] = (counter[name] ?? 0) + 1);
      const label = `${name}-${index}`;
      const launch = (port?: number) =>
        startService(name, envFor(name, extra), {
          timeoutMs,
          ...(options.compiled ? { compiled: true } : {}),
          ...(port ? { port } : {}),
          ...(entries.get(name)?.entry ? { entry: entries.get(name)!.entry! } : {}),
          ...logFile(label),
          ...(options.onStderr ? { onStderr: (text: string) => options.onStderr!(label, text) } : {}),
        });
      let replica = await launch(replicaOptions.port);
      if (stopping) {
        await replica.stop();
        throw new Error(`the stack stopped while ${label} was starting`);
      }
      (services[name] ??= []).push(replica);
      publish(name);
      const supervise = (current: RunningService) => {
        void current.process.waitForExit().then((code) => {
          if (stopping || !options.restartOnExit) return;
          say(`${label} exited (${code}); restarting in ${RESTART_DELAY_MS / 1000} s${logDir ? ` (log: ${join(logDir, `${label}.log`)})` : ""}`);
          setTimeout(() => void relaunch(current), RESTART_DELAY_MS);
        });
      };
      // Same port first (clients and the edge know it); another one if it was taken meanwhile.
      const relaunch = async (previous: RunningService) => {
        if (stopping) return;
        try {
          replica = await launch(previous.port).catch((err: unknown) => (err instanceof PortInUseError ? launch() : Promise.reject(err)));
        } catch (err) {
          say(`${label} did not restart: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}; retrying`);
          setTimeout(() => void relaunch(previous), RESTART_DELAY_MS);
          return;
        }
        if (stopping) {
          await replica.stop();
          return;
        }
        const list = (services[name] ??= []);
        const at = list.indexOf(previous);
        if (at >= 0) list[at] = replica;
        else list.push(replica);
        publish(name);
        supervise(replica);
      };
      supervise(replica);
      replicaStoppers.push(() => replica.stop());
      return replica;
    };

    // Settled, not Promise.all: a failure must not stop the stack while sibling replicas are still coming up.
    const settle = async <T>(work: Promise<T>[]): Promise<T[]> => {
      const results = await Promise.allSettled(work);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      return results.map((r) => (r as PromiseFulfilledResult<T>).value);
    };
    const startAll = (spec: StackServiceSpec) => {
      const count = options.replicas?.[spec.name] ?? spec.replicas ?? 1;
      return settle(Array.from({ length: count }, () => startReplica(spec.name)));
    };
    for (const spec of ordered.filter((s) => s.name === "auth")) say(`auth: ${(await startAll(spec)).map((r) => r.url).join(", ")}`);
    await settle(
      ordered
        .filter((s) => s.name !== "auth")
        .map(async (spec) => {
          const replicas = await startAll(spec);
          if (replicas.length) say(`${spec.name}: ${replicas.map((r) => r.url).join(", ")}`);
        }),
    );

    const client = new AuthHttpClient(services.auth?.[0]?.url ?? "http://auth.not.started");
    let token: Promise<string> | undefined;
    const stack: Stack = {
      natsUrl,
      redisUrl,
      nats,
      natsCluster,
      redis,
      services,
      service(name) {
        const first = services[name]?.[0];
        if (!first) throw new Error(`no ${name} replica in this stack`);
        return first;
      },
      auth: {
        get service() {
          return stack.service("auth");
        },
        client,
        adminUsername: admin.username,
        adminPassword: admin.password,
        jwtSecret,
        adminToken: () => (token ??= client.login(admin.username, admin.password).then((r) => r.accessToken)),
      },
      admin,
      jwtSecret,
      edge,
      edgeUrl,
      startReplica,
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}
