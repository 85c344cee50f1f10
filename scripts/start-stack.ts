/**
 * `npm start`: the whole system on one machine, without Docker. Starts nats-server (JetStream) and redis-server from
 * PATH on free ports with their data in the state folder (unless NATS_URL / REDIS_URL are given), every service of
 * services/, and the local TLS edge; then prints the URL and the admin login. Ctrl-C stops everything.
 *
 * Environment (all optional):
 *   STATE_DIR   state folder (data, secrets, certificate, logs)             default .state/ in the repository
 *   EDGE_PORT   https port of the edge                                       default 8443
 *   NATS_URL    use this NATS instead of starting one
 *   REDIS_URL   use this Redis instead of starting one
 *   STACK_SCALE replicas per service, e.g. "agent-ws=2,terminal-ws=2"       default 1 each
 *   EDGE_TLS_CERT / EDGE_TLS_KEY   a real certificate instead of the generated self-signed one
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, createWriteStream } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { startEdge } from "@patchmon-ws/edge";
import { findBinary, freePort, ManagedProcess, REPO_ROOT, waitForPort } from "@patchmon-ws/testkit";

const STATE_DIR = resolve(process.env.STATE_DIR ?? join(REPO_ROOT, ".state"));
const LOG_DIR = join(STATE_DIR, "logs");
const EDGE_PORT = Number(process.env.EDGE_PORT ?? 8443);
const RESTART_DELAY_MS = 2000;

interface Secrets {
  jwtSecret: string;
  adminUsername: string;
  adminPassword: string;
}

const stoppers: (() => Promise<unknown>)[] = [];
let stopping = false;

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
    adminUsername: process.env.ADMIN_USERNAME ?? "admin",
    adminPassword: process.env.ADMIN_PASSWORD ?? randomBytes(12).toString("base64url"),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return secrets;
}

function binaryOrExplain(name: string, debianPackage: string, urlVariable: string): string {
  const path = findBinary(name);
  if (!path) {
    fail(`${name} is not installed. Install it with \`sudo apt-get install -y ${debianPackage}\`, or point ${urlVariable} at a running server.`);
  }
  return path;
}

async function startNats(): Promise<string> {
  if (process.env.NATS_URL) return process.env.NATS_URL;
  const binary = binaryOrExplain("nats-server", "nats-server", "NATS_URL");
  const port = await freePort();
  const dir = join(STATE_DIR, "nats");
  mkdirSync(dir, { recursive: true });
  const nats = new ManagedProcess(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, "-l", join(LOG_DIR, "nats-server.log")]);
  stoppers.push(() => nats.stop());
  await waitForPort(port, "127.0.0.1", 15_000).catch(() => fail(`nats-server did not start; see ${join(LOG_DIR, "nats-server.log")}`));
  say(`nats-server (JetStream) on nats://127.0.0.1:${port}, data in ${dir}`);
  return `nats://127.0.0.1:${port}`;
}

async function startRedis(): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  const binary = binaryOrExplain("redis-server", "redis-server", "REDIS_URL");
  const port = await freePort();
  const dir = join(STATE_DIR, "redis");
  mkdirSync(dir, { recursive: true });
  const redis = new ManagedProcess(binary, [
    "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
    "--maxmemory-policy", "noeviction", "--logfile", join(LOG_DIR, "redis-server.log"),
  ]);
  stoppers.push(() => redis.stop());
  await waitForPort(port, "127.0.0.1", 15_000).catch(() => fail(`redis-server did not start; see ${join(LOG_DIR, "redis-server.log")}`));
  say(`redis-server on redis://127.0.0.1:${port}, data in ${dir}`);
  return `redis://127.0.0.1:${port}`;
}

function parseScale(text: string | undefined): Map<string, number> {
  const scale = new Map<string, number>();
  for (const part of (text ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, count] = part.split("=");
    const replicas = Number(count);
    if (!name || !Number.isInteger(replicas) || replicas < 1 || replicas > 16) fail(`STACK_SCALE: bad entry ${JSON.stringify(part)} (want name=1..16)`);
    scale.set(name, replicas);
  }
  return scale;
}

/** Runs one replica, restarting it if it dies; resolves with its URL once it listens. */
async function runReplica(service: string, index: number, env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const logFile = join(LOG_DIR, `${service}-${index}.log`);
  const launch = () => {
    const log = createWriteStream(logFile, { flags: "a" });
    const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", join(REPO_ROOT, "services", service, "src", "main.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, HOST: "127.0.0.1", PORT: String(port) },
    });
    child.child.stdout?.pipe(log);
    child.child.stderr?.on("data", (chunk: Buffer) => {
      log.write(chunk);
      // The auth service prints a generated first-admin password on stderr; keep stderr visible.
      process.stderr.write(`[${service}-${index}] ${chunk.toString()}`);
    });
    void child.waitForExit().then((code) => {
      if (stopping) return;
      say(`${service}-${index} exited (${code}); restarting in ${RESTART_DELAY_MS / 1000} s (log: ${logFile})`);
      setTimeout(() => {
        if (!stopping) current = launch();
      }, RESTART_DELAY_MS);
    });
    return child;
  };
  let current = launch();
  stoppers.push(() => current.stop());
  await current.waitForOutput(/"msg":"listening"/, 60_000).catch(() => fail(`${service}-${index} did not start; see ${logFile}`));
  return `http://127.0.0.1:${port}`;
}

async function main(): Promise<void> {
  mkdirSync(LOG_DIR, { recursive: true });
  const secrets = loadSecrets();
  const natsUrl = await startNats();
  const redisUrl = await startRedis();
  const edgeUrl = `https://localhost:${EDGE_PORT}`;
  const scale = parseScale(process.env.STACK_SCALE);
  const services = readdirSync(join(REPO_ROOT, "services")).filter((name) => existsSync(join(REPO_ROOT, "services", name, "src", "main.ts")));
  for (const name of scale.keys()) if (!services.includes(name)) fail(`STACK_SCALE names ${name}, which is not a service (${services.join(", ")})`);

  const common = { NATS_URL: natsUrl, REDIS_URL: redisUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? "info", PUBLIC_URL: edgeUrl };
  const serviceEnv: Record<string, Record<string, string>> = {
    auth: { JWT_SECRET: secrets.jwtSecret, ADMIN_USERNAME: secrets.adminUsername, ADMIN_PASSWORD: secrets.adminPassword },
  };
  // auth first: the others verify credentials through it.
  const ordered = [...services].sort((a, b) => (a === "auth" ? -1 : b === "auth" ? 1 : a.localeCompare(b)));
  const upstreams: Record<string, string[]> = {};
  for (const service of ordered) {
    const replicas = scale.get(service) ?? 1;
    upstreams[service] = await Promise.all(
      Array.from({ length: replicas }, (_, i) => runReplica(service, i + 1, { ...common, ...serviceEnv[service] })),
    );
    say(`${service}: ${upstreams[service]!.join(", ")}`);
  }

  const tls =
    process.env.EDGE_TLS_CERT && process.env.EDGE_TLS_KEY
      ? { cert: readFileSync(process.env.EDGE_TLS_CERT, "utf8"), key: readFileSync(process.env.EDGE_TLS_KEY, "utf8") }
      : undefined;
  const edge = await startEdge({ port: EDGE_PORT, upstreams, stateDir: join(STATE_DIR, "edge"), ...(tls ? { tls } : {}) });
  stoppers.push(() => edge.close());

  say("");
  say(`patchmon-ws is up at ${edgeUrl}`);
  say(`admin login: ${secrets.adminUsername} / ${secrets.adminPassword}`);
  say(`try: curl -k -X POST ${edgeUrl}/api/v1/auth/login -H 'content-type: application/json' \\`);
  say(`        -d '{"username":"${secrets.adminUsername}","password":"${secrets.adminPassword}"}'`);
  say(`logs: ${LOG_DIR}   state: ${STATE_DIR}   stop: Ctrl-C`);
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping`);
  // Reverse start order: the edge first, then services, then NATS and Redis.
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  process.exit(0);
}

process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
main().catch(async (err: unknown) => {
  process.stderr.write(`[stack] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await shutdown("error");
});
