/**
 * The NATS and Redis settings of the deployment files, run by the real daemons (Debian's nats-server and
 * redis-server, older than the pinned images: 2.9 / 7.0 here, 2.10 / 7.2 there, same options):
 * - the Kubernetes nats.conf parses (`nats-server -t`);
 * - nats-server started with docker-compose.yml's arguments serves the health URL its healthcheck probes;
 * - redis-server started with docker-compose.yml's arguments answers the healthcheck's `redis-cli ping` and keeps an
 *   append-only file.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { freePort, startDaemon } from "@patchmon-ws/stack";
import { read, readCompose } from "./support.js";

const run = promisify(execFile);
const compose = readCompose("docker-compose.yml");
const scratch = mkdtempSync(join(tmpdir(), "pmws-daemons-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const natsBinary = existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";

describe("NATS settings", () => {
  it("the Kubernetes nats.conf is valid", async () => {
    const config = (parse(read("deploy/kubernetes/nats/config.yaml")) as { data: Record<string, string> }).data["nats.conf"]!;
    const file = join(scratch, "nats.conf");
    writeFileSync(file, config.replace("/data", join(scratch, "js")).replace("/var/run/nats/nats.pid", join(scratch, "nats.pid")));
    const { stdout, stderr } = await run(natsBinary, ["-c", file, "-t"], { env: { ...process.env, POD_NAME: "nats-0" } });
    expect(stdout + stderr).toMatch(/is valid/);
  });

  it("docker-compose.yml's nats-server arguments start JetStream and answer the healthcheck's URL", async () => {
    const monitor = await freePort();
    const args = compose.services.nats!.command!.slice(1).map((a) => a.replace("--store_dir=/data", `--store_dir=${join(scratch, "compose-js")}`).replace("--http_port=8222", `--http_port=${monitor}`));
    const healthUrl = compose.services.nats!.healthcheck!.test.at(-1)!.replace(":8222", `:${monitor}`);
    const server = await startDaemon(
      { binary: "nats-server", debianPackage: "nats-server", scheme: "nats", args: (port) => [...args, "-a", "127.0.0.1", "-p", String(port)], ready: /Server is ready/ },
      { dataDir: join(scratch, "nats-daemon") },
    );
    try {
      const response = await fetch(healthUrl);
      expect(response.status).toBe(200);
      expect(server.process.log).toMatch(/Starting JetStream/);
    } finally {
      await server.dispose();
    }
  });
});

describe("Redis settings", () => {
  it("docker-compose.yml's redis-server arguments answer `redis-cli ping` and keep an append-only file", async () => {
    const dir = join(scratch, "redis");
    const args = compose.services.redis!.command!.slice(1);
    const server = await startDaemon(
      { binary: "redis-server", debianPackage: "redis-server", scheme: "redis", args: (port, data) => [...args, "--port", String(port), "--bind", "127.0.0.1", "--dir", data], ready: /Ready to accept connections/ },
      { dataDir: dir },
    );
    try {
      // The healthcheck's command, against this server.
      const test = compose.services.redis!.healthcheck!.test as string[];
      expect(test[0]).toBe("CMD-SHELL");
      const { stdout } = await run("sh", ["-c", test[1]!.replace("redis-cli", `redis-cli -p ${server.port}`) + " && echo healthy"]);
      expect(stdout.trim()).toBe("healthy");
      const { stdout: policy } = await run("redis-cli", ["-p", String(server.port), "config", "get", "maxmemory-policy"]);
      expect(policy).toMatch(/noeviction/);
      const { stdout: aof } = await run("redis-cli", ["-p", String(server.port), "config", "get", "appendonly"]);
      expect(aof).toMatch(/yes/);
    } finally {
      await server.dispose();
    }
    expect(readdirSync(dir).some((f) => f.startsWith("appendonly"))).toBe(true);
  });
});
