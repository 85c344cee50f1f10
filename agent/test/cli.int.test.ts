import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CliProcess } from "./support/cli-process.js";
import { TestPeer } from "./support/peer.js";
import { createTestPki, type TestPki } from "./support/tls.js";

let pki: TestPki;
let dir: string;
const processes: CliProcess[] = [];
const peers: TestPeer[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "patchmon-agent-cli-"));
  return () => rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop().catch(() => undefined)));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

function cli(args: string[], env?: Record<string, string>) {
  const child = new CliProcess(args, env);
  processes.push(child);
  return child;
}

describe("patchmon-agent CLI", () => {
  it("run: connects with the given credentials over TLS with --ca, logs JSON, and exits 0 on SIGTERM after closing with 1000", async () => {
    const peer = await TestPeer.start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    peers.push(peer);
    const caFile = join(dir, "ca.pem");
    await writeFile(caFile, pki.caCert);
    const agent = cli(["run", "--server", peer.serverUrl(), "--api-id", "cli_host", "--api-key", "cli-secret", "--ca", caFile]);
    const connection = await peer.connection(0, 30_000);
    expect(connection.headers["x-api-id"]).toBe("cli_host");
    expect(connection.headers["x-api-key"]).toBe("cli-secret");
    await agent.waitForLine((l) => l.msg === "connected", "connected log line");
    connection.send({ type: "report_now", id: "cli-r1" });
    expect(await connection.nextMessage((m) => m.id === "cli-r1", "ack")).toEqual({ type: "ack", id: "cli-r1", ok: true });
    await agent.waitForLine((l) => l.msg === "command received" && l.type === "report_now", "command log line");
    expect(await agent.stop()).toBe(0);
    expect((await connection.waitClosed()).code).toBe(1000);
    expect(agent.stdout).not.toContain("cli-secret");
  });

  it("run: reads the stock agent's config.yml and credentials.yml", async () => {
    const peer = await TestPeer.start();
    peers.push(peer);
    const config = join(dir, "config.yml");
    const credentials = join(dir, "credentials.yml");
    await writeFile(config, `patchmon_server: ${peer.serverUrl()}\napi_version: v1\ncredentials_file: ${credentials}\nupdate_interval: 60\n`);
    await writeFile(credentials, "api_id: yaml_host\napi_key: yaml-secret\n");
    cli(["run", "--config", config]);
    const connection = await peer.connection(0, 30_000);
    expect(connection.headers["x-api-id"]).toBe("yaml_host");
    expect(connection.headers["x-api-key"]).toBe("yaml-secret");
  });

  it("run: integrations.ssh-proxy-enabled in config.yml turns SSH proxying on (hello announces ssh_proxy)", async () => {
    const peer = await TestPeer.start();
    peers.push(peer);
    const config = join(dir, "config-ssh.yml");
    await writeFile(config, `patchmon_server: ${peer.serverUrl()}\nintegrations:\n  docker: false\n  ssh-proxy-enabled: true\n`);
    cli(["run", "--config", config, "--api-id", "ssh_host", "--api-key", "k", "--known-hosts", join(dir, "kh", "known_hosts")]);
    const connection = await peer.connection(0, 30_000);
    const hello = await connection.nextMessage((m) => m.type === "hello", "hello");
    expect(hello.capabilities).toEqual(["ack", "dedupe", "ssh_proxy"]);
    // Enabled: a bad target is refused by validation, not by the "disabled" answer.
    connection.send({ type: "ssh_proxy", session_id: "cli-s1", host: "bad host", port: 22, username: "u", password: "pw" });
    expect(await connection.nextMessage((m) => m.type === "ssh_proxy_error", "ssh_proxy_error")).toMatchObject({
      session_id: "cli-s1",
      message: "host must be a hostname, localhost or an IPv4 address",
    });
  });

  it("run: exits 2 with a clear message on bad arguments", async () => {
    const missing = cli(["run", "--server", "https://h", "--api-id", "a"]);
    expect(await missing.waitForExit()).toBe(2);
    expect(missing.stderr).toMatch(/--api-key is required/);
    const badUrl = cli(["run", "--server", "ftp://h", "--api-id", "a", "--api-key", "k"]);
    expect(await badUrl.waitForExit()).toBe(2);
    expect(badUrl.stderr).toMatch(/server: unsupported scheme "ftp:\/\/"/);
  });

  it("simulate: starts N agents from a credentials file and reports when all are connected", async () => {
    const peer = await TestPeer.start();
    peers.push(peer);
    const file = join(dir, "agents.json");
    await writeFile(file, JSON.stringify(Array.from({ length: 8 }, (_, i) => ({ apiId: `cli_sim_${i}`, apiKey: `k${i}` }))));
    const simulation = cli(["simulate", "--count", "5", "--server", peer.serverUrl(), "--credentials-file", file, "--concurrency", "2"]);
    const all = await simulation.waitForLine((l) => l.event === "all_connected", "all_connected");
    expect(all).toMatchObject({ connected: 5, total: 5 });
    expect(new Set(peer.connections.map((c) => c.headers["x-api-id"]))).toEqual(new Set(["cli_sim_0", "cli_sim_1", "cli_sim_2", "cli_sim_3", "cli_sim_4"]));
    expect(await simulation.stop()).toBe(0);
    expect(simulation.lines.at(-1)).toMatchObject({ event: "stopped", connected: 0 });
  });
});
