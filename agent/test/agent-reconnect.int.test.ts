import { afterEach, describe, expect, it } from "vitest";
import type { DisconnectInfo, RejectionInfo } from "../src/reference-agent.js";
import { AgentPool, captureLogger } from "./support/agents.js";
import { peersClosedAfterEach } from "./support/peer.js";
import { nextEvent, waitFor } from "./support/wait.js";

const pool = new AgentPool();
afterEach(() => pool.stopAll());
const startPeer = peersClosedAfterEach(afterEach);

describe("reconnect", () => {
  it("reconnects after the server closes (1012 restart), reporting code and reason", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    const disconnects: DisconnectInfo[] = [];
    agent.on("disconnected", (d) => disconnects.push(d));
    agent.start();
    const first = await peer.connection(0);
    first.ws.close(1012, "service restart");
    const second = await peer.connection(1);
    await second.nextMessage((m) => m.type === "hello", "hello on the new connection");
    expect(disconnects).toEqual([{ code: 1012, reason: "service restart" }]);
    await waitFor(() => agent.connected, "agent connected again");
  });

  it("reconnects after the TCP connection drops without a close frame", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    const disconnected = nextEvent<[DisconnectInfo]>(agent, "disconnected");
    agent.start();
    (await peer.connection(0)).ws.terminate();
    expect((await disconnected)[0].code).toBe(1006);
    await peer.connection(1);
  });

  it("keeps retrying while the server is down and connects once it is back", async () => {
    const peer = await startPeer();
    const url = peer.serverUrl();
    const port = peer.port;
    await peer.close();
    const agent = pool.create({ server: url });
    const errors: Error[] = [];
    agent.on("error", (e) => errors.push(e));
    agent.start();
    await waitFor(() => errors.length >= 3, "three failed attempts");
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
    // The same port again (free since the peer closed).
    const { createServer } = await import("node:http");
    const { WebSocketServer } = await import("ws");
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const connected = nextEvent(agent, "connected");
    // Free since the peer closed, but another worker's port probe may hold it for a moment: retry EADDRINUSE.
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      await connected;
    } finally {
      await pool.stopAll();
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("reports a refused upgrade (401 JSON) via 'rejected', logs it, and keeps retrying", async () => {
    const body = { error: "The credentials are invalid.", code: "INVALID_CREDENTIALS" };
    const peer = await startPeer({ refuse: () => ({ status: 401, body }) });
    const logger = captureLogger();
    const agent = pool.create({ server: peer.serverUrl(), logger });
    const rejections: RejectionInfo[] = [];
    agent.on("rejected", (r) => rejections.push(r));
    let connected = false;
    agent.on("connected", () => (connected = true));
    agent.start();
    await waitFor(() => rejections.length >= 3, "three rejections");
    expect(rejections[0]).toEqual({ status: 401, body });
    expect(peer.upgradeRequests.length).toBeGreaterThanOrEqual(3);
    expect(connected).toBe(false);
    const logged = logger.entries.find((e) => e.msg === "server rejected the connection with HTTP 401");
    expect(logged?.level).toBe("warn");
    expect(logged?.fields).toMatchObject({ status: 401, body });
    // The key never reaches a log line.
    expect(JSON.stringify(logger.entries)).not.toContain("k3y-for-tests");
  });

  it("honours Retry-After on 429/503 before retrying", async () => {
    const peer = await startPeer({
      refuse: () => ({ status: 503, body: { error: "A dependency is unavailable; try again later.", code: "DEPENDENCY_UNAVAILABLE" }, headers: { "Retry-After": "1" } }),
    });
    const agent = pool.create({ server: peer.serverUrl() });
    const rejected = nextEvent<[RejectionInfo]>(agent, "rejected");
    const seenAt: number[] = [];
    peer.on("upgrade-request", () => seenAt.push(performance.now()));
    agent.start();
    expect((await rejected)[0]).toEqual({
      status: 503,
      body: { error: "A dependency is unavailable; try again later.", code: "DEPENDENCY_UNAVAILABLE" },
      retryAfterMs: 1000,
    });
    await waitFor(() => seenAt.length >= 2, "the retry");
    // Correctness, not speed: the backoff alone (≤ 200 ms here) would have retried sooner.
    expect((seenAt[1] as number) - (seenAt[0] as number)).toBeGreaterThanOrEqual(950);
  });

  it("resets the backoff after a connection that stayed up, so the next retry is quick again", async () => {
    // Seven refusals grow the ceiling to 10 ms × 2^7; then one good connection.
    let refusals = 7;
    const peer = await startPeer({
      refuse: () => (refusals-- > 0 ? { status: 503, body: { error: "busy", code: "SHUTTING_DOWN" } } : undefined),
    });
    const logger = captureLogger();
    const agent = pool.create({ server: peer.serverUrl(), logger, backoff: { initialMs: 10, maxMs: 60_000, resetAfterMs: 200 } });
    agent.start();
    const connection = await peer.connection(0);
    const delays = () => logger.entries.filter((e) => e.msg === "reconnecting after backoff").map((e) => e.fields.delayMs as number);
    expect(delays()).toHaveLength(7);
    expect(Math.max(...delays())).toBeLessThanOrEqual(640);
    // Let the connection age past resetAfterMs (setup, not an assertion), then drop it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    connection.ws.close(1012, "restart");
    await peer.connection(1);
    // Without the reset this delay would be drawn from [0, 1280] ms.
    expect(delays()[7]).toBeLessThanOrEqual(10);
  });

  it("can be started again after stop()", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    agent.start();
    await peer.connection(0);
    await waitFor(() => agent.connected, "connected");
    await agent.stop();
    agent.start();
    await peer.connection(1);
    await waitFor(() => agent.connected, "connected again");
  });

  it("stop() during a connection attempt ends it without reconnecting", async () => {
    const peer = await startPeer({ stall: true });
    const agent = pool.create({ server: peer.serverUrl() });
    const errors: Error[] = [];
    agent.on("error", (e) => errors.push(e));
    agent.start();
    await waitFor(() => peer.upgradeRequests.length === 1, "the upgrade request");
    await agent.stop();
    expect(agent.connected).toBe(false);
    expect(errors).toEqual([]);
  });
});
