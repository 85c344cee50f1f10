/**
 * The compose files through compose itself: `docker compose config` (Compose v2) or `docker-compose config` (Debian's
 * v1), which parse, interpolate, merge the overrides and validate without a Docker engine. Fails, naming the package,
 * when neither is installed (.ci/run installs it), like every test that needs a program.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SERVICE_NAMES } from "../../proxy/src/routes.js";
import { composeLabels } from "../../proxy/src/deploy-config.js";
import { ROOT, interpolate, type ComposeFile } from "./support.js";

const run = promisify(execFile);

/** The compose command that works here. */
function findCompose(): string[] {
  for (const command of [["docker", "compose"], ["docker-compose"]]) {
    try {
      execFileSync(command[0]!, [...command.slice(1), "version"], { stdio: "ignore", timeout: 10_000 });
      return command;
    } catch {
      // not installed, or `docker` without the compose plugin
    }
  }
  throw new Error("neither `docker compose` nor `docker-compose` found: install it with `apt-get install -y docker-compose`");
}

const compose = findCompose();
// An empty env file: a developer's own .env must not change what is tested.
const scratch = mkdtempSync(join(tmpdir(), "pmws-compose-"));
const emptyEnv = join(scratch, "empty.env");
writeFileSync(emptyEnv, "");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ENV = { JWT_SECRET: "j".repeat(40), ACME_EMAIL: "ops@example.com", ACME_DOMAIN: "patchmon.example.com" };

async function config(files: string[], env: Record<string, string> = ENV): Promise<ComposeFile> {
  const args = [...compose.slice(1), "--env-file", emptyEnv, ...files.flatMap((f) => ["-f", f]), "config"];
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(JWT_SECRET|ACME_|ADMIN_|EDGE_|KV_REPLICAS|LOG_LEVEL|HTTPS?_PORT|PATCHMON_WS_)/.test(k)));
  const { stdout } = await run(compose[0]!, args, { cwd: ROOT, env: { ...clean, ...env }, timeout: 60_000 });
  return parse(stdout) as ComposeFile;
}

describe(`compose config (${compose.join(" ")})`, () => {
  it("accepts docker-compose.yml: every service, Traefik alone publishing ports, generated labels intact", async () => {
    const file = await config(["docker-compose.yml"]);
    expect(Object.keys(file.services).sort()).toEqual(["agent-ws", "auth", "bullboard", "nats", "redis", "terminal-ws", "traefik", "web"]);
    for (const [name, service] of Object.entries(file.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
      if (name !== "traefik") expect(service.ports ?? [], name).toEqual([]);
    }
    const published = (file.services.traefik!.ports ?? []).map((p) => (typeof p === "string" ? p : `${p.published}:${p.target}`));
    expect(published.map((p) => p.replace(/\/tcp$/, "")).sort()).toEqual(["443:443", "80:80"]);
    for (const service of SERVICE_NAMES) {
      const expected = Object.fromEntries(Object.entries(composeLabels(service)).map(([k, v]) => [k, interpolate(v, {})]));
      expect(file.services[service]!.labels, service).toEqual(expected);
    }
    expect(file.services.auth!.environment?.JWT_SECRET).toBe(ENV.JWT_SECRET);
  });

  it("accepts the cluster override: three NATS servers, KV_REPLICAS=3", async () => {
    const file = await config(["docker-compose.yml", "docker-compose.cluster.yml"]);
    expect(Object.keys(file.services)).toEqual(expect.arrayContaining(["nats", "nats-2", "nats-3"]));
    for (const name of ["auth", "agent-ws", "terminal-ws"]) expect(String(file.services[name]!.environment?.KV_REPLICAS), name).toBe("3");
  });

  it("accepts the ACME override: the websecure entry point gets the resolver", async () => {
    const file = await config(["docker-compose.yml", "docker-compose.acme.yml"]);
    expect(file.services.traefik!.environment?.TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_TLS_CERTRESOLVER).toBe("letsencrypt");
  });

  it("refuses to run without JWT_SECRET, naming it", async () => {
    await expect(config(["docker-compose.yml"], {})).rejects.toThrow(/JWT_SECRET/);
  });
});
