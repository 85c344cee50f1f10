/**
 * `npm start`: the whole system on one machine, without Docker, through testkit's startStack(). Starts nats-server
 * (JetStream) and redis-server from PATH on free ports with their data in the state folder (unless NATS_URL /
 * REDIS_URL are given), every service of services/, and the local TLS edge; then prints the URL and the admin
 * login. A replica that dies is restarted. Ctrl-C stops everything.
 *
 * Its variables (local-stack-config.ts) and the edge's are documented in the README's configuration tables.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { loadEdgeConfig, localEdge } from "@patchmon-ws/edge";
import { discoverServices, findBinary, parseScale, REPO_ROOT, startStack, type Stack } from "@patchmon-ws/stack";
import { loadLocalStackConfig, type LocalStackConfig } from "./local-stack-config.js";

let config: LocalStackConfig;
try {
  config = loadLocalStackConfig();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
const STATE_DIR = resolve(config.STATE_DIR ?? join(REPO_ROOT, ".state"));
const LOG_DIR = join(STATE_DIR, "logs");

interface Secrets {
  jwtSecret: string;
  adminUsername: string;
  adminPassword: string;
}

function say(line: string): void {
  process.stdout.write(`[stack] ${line}\n`);
}

function fail(message: string): never {
  process.stderr.write(`[stack] ${message}\n`);
  process.exit(1);
}

/** Generated once and kept (mode 0600) so restarts keep the same admin login and token signing key. */
function loadSecrets(): Secrets {
  const file = join(STATE_DIR, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as Secrets;
  const secrets: Secrets = {
    jwtSecret: randomBytes(32).toString("hex"),
    adminUsername: config.ADMIN_USERNAME,
    adminPassword: config.ADMIN_PASSWORD ?? randomBytes(12).toString("base64url"),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return secrets;
}

/** Explains a missing daemon before anything starts, naming the package and the variable that avoids it. */
function checkBinary(name: string, debianPackage: string, urlVariable: "NATS_URL" | "REDIS_URL"): void {
  if (config[urlVariable]) return;
  if (!findBinary(name)) fail(`${name} is not installed. Install it with \`sudo apt-get install -y ${debianPackage}\`, or point ${urlVariable} at a running server.`);
}

let stack: Stack | undefined;
let starting: Promise<Stack> | undefined;
let stopping = false;

async function main(): Promise<void> {
  mkdirSync(LOG_DIR, { recursive: true });
  checkBinary("nats-server", "nats-server", "NATS_URL");
  checkBinary("redis-server", "redis-server", "REDIS_URL");
  const services = discoverServices();
  let scale: Record<string, number>;
  let edgeConfig: ReturnType<typeof loadEdgeConfig>;
  try {
    scale = parseScale(config.STACK_SCALE, services);
    // The edge's own variables, validated as the edge does; its upstreams are the replicas started here.
    edgeConfig = loadEdgeConfig({ EDGE_STATE_DIR: join(STATE_DIR, "edge"), ...process.env, EDGE_UPSTREAMS: "" });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const secrets = loadSecrets();

  starting = startStack({
    ...(config.NATS_URL ? { natsUrl: config.NATS_URL } : {}),
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
    stateDir: STATE_DIR,
    logDir: LOG_DIR,
    services,
    replicas: scale,
    env: { LOG_LEVEL: config.LOG_LEVEL },
    admin: { username: secrets.adminUsername, password: secrets.adminPassword },
    jwtSecret: secrets.jwtSecret,
    cheapPasswordHashes: false,
    edge: localEdge({
      host: edgeConfig.EDGE_HOST,
      port: edgeConfig.EDGE_PORT,
      httpPort: edgeConfig.EDGE_HTTP_PORT,
      stateDir: edgeConfig.EDGE_STATE_DIR,
      trustedIps: edgeConfig.EDGE_TRUSTED_IPS,
      healthCheckIntervalMs: edgeConfig.EDGE_HEALTH_CHECK_INTERVAL_MS,
      ...(edgeConfig.EDGE_TLS_CERT && edgeConfig.EDGE_TLS_KEY ? { tls: { cert: edgeConfig.EDGE_TLS_CERT, key: edgeConfig.EDGE_TLS_KEY } } : {}),
    }),
    restartOnExit: true,
    timeoutMs: 60_000,
    onLog: say,
    // The auth service prints a generated first-admin password on stderr; keep stderr visible.
    onStderr: (replica, text) => process.stderr.write(`[${replica}] ${text}`),
  });
  stack = await starting;
  if (stopping) return;

  const edgeUrl = stack.edgeUrl!;
  say("");
  say(`patchmon-ws is up at ${edgeUrl}`);
  say(`admin login: ${secrets.adminUsername} / ${secrets.adminPassword}`);
  say(`try: curl -k -X POST ${edgeUrl}/api/v1/auth/login -H 'content-type: application/json' \\`);
  say(`        -d '{"username":"${secrets.adminUsername}","password":"${secrets.adminPassword}"}'`);
  say(`logs: ${LOG_DIR}   state: ${STATE_DIR}   stop: Ctrl-C`);
}

async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping`);
  // Interrupted while starting: let the start finish (or fail) so nothing it launched is left running.
  await (stack ?? (await starting?.catch(() => undefined)))?.stop();
  process.exit(code);
}

process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
main().catch(async (err: unknown) => {
  process.stderr.write(`[stack] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await shutdown("error", 1);
});
