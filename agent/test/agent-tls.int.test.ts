import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentPool, captureLogger } from "./support/agents.js";
import { TestPeer } from "./support/peer.js";
import { createTestPki, type TestPki } from "./support/tls.js";
import { nextEvent, waitFor } from "./support/wait.js";

let pki: TestPki;
let peer: TestPeer | undefined;
const pool = new AgentPool();

beforeAll(async () => {
  pki = await createTestPki();
});
afterEach(async () => {
  await pool.stopAll();
  await peer?.close();
  peer = undefined;
});

async function tlsPeer(): Promise<TestPeer> {
  peer = await TestPeer.start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
  return peer;
}

describe("TLS", () => {
  it("dials wss:// for an https:// server and verifies it against a custom CA", async () => {
    const server = await tlsPeer();
    const agent = pool.create({ server: server.serverUrl(), ca: pki.caCert });
    expect(agent.url).toBe(`wss://127.0.0.1:${server.port}/api/v1/agents/ws`);
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    const connection = await server.connection(0);
    expect(connection.headers["x-api-id"]).toBe("host_test_1");
    expect(await connection.nextMessage((m) => m.type === "hello", "hello over TLS")).toMatchObject({ capabilities: ["ack", "dedupe"] });
  });

  it("accepts the CA as a Buffer, and a server named by DNS (SNI + name check)", async () => {
    const server = await tlsPeer();
    const agent = pool.create({ server: `https://localhost:${server.port}`, ca: Buffer.from(pki.caCert) });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
  });

  it("refuses an untrusted certificate (no CA given) and keeps retrying", async () => {
    const server = await tlsPeer();
    const agent = pool.create({ server: server.serverUrl() });
    const errors: Error[] = [];
    agent.on("error", (e) => errors.push(e));
    let connected = false;
    agent.on("connected", () => (connected = true));
    agent.start();
    await waitFor(() => errors.length >= 2, "two failed attempts");
    expect((errors[0] as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    expect(connected).toBe(false);
    expect(server.connections).toHaveLength(0);
  });

  it("connects to an untrusted certificate only with the explicit insecure flag", async () => {
    const server = await tlsPeer();
    const logger = captureLogger();
    const agent = pool.create({ server: server.serverUrl(), insecure: true, logger });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(server.connections).toHaveLength(1);
    expect(logger.entries.find((e) => e.level === "warn")?.msg).toMatch(/TLS certificate verification is DISABLED/);
    expect(logger.entries.find((e) => e.msg === "starting")?.fields).toMatchObject({ tls: "insecure" });
  });
});
