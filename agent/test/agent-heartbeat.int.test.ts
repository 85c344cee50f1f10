import { afterEach, describe, expect, it } from "vitest";
import type { DisconnectInfo } from "../src/reference-agent.js";
import { AgentPool } from "./support/agents.js";
import { peersClosedAfterEach } from "./support/peer.js";
import { nextEvent, waitFor } from "./support/wait.js";

const pool = new AgentPool();
afterEach(() => pool.stopAll());
const startPeer = peersClosedAfterEach(afterEach);

describe("heartbeat and limits", () => {
  it("pings at the configured cadence and stays up while pongs come back", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl(), pingIntervalMs: 100, readDeadlineMs: 2_000 });
    const disconnects: DisconnectInfo[] = [];
    agent.on("disconnected", (d) => disconnects.push(d));
    agent.start();
    const connection = await peer.connection(0);
    await waitFor(() => connection.pings >= 5, "five pings");
    expect(disconnects).toEqual([]);
    expect(agent.connected).toBe(true);
  });

  it("sends no ping before the interval elapses (30 s by default)", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    agent.start();
    const connection = await peer.connection(0);
    // A round trip of commands shows the connection is in use; a default agent must not have pinged yet.
    connection.send({ type: "report_now", id: "r" });
    await connection.nextMessage((m) => m.id === "r", "ack");
    expect(connection.pings).toBe(0);
  });

  it("closes a silent connection at the read deadline, then reconnects", async () => {
    // The peer never answers pings and sends nothing: a half-open connection as far as the agent can tell.
    const peer = await startPeer({ autoPong: false });
    const agent = pool.create({ server: peer.serverUrl(), pingIntervalMs: 100, readDeadlineMs: 400 });
    const disconnected = nextEvent<[DisconnectInfo]>(agent, "disconnected");
    agent.start();
    const first = await peer.connection(0);
    const [info] = await disconnected;
    expect(info.reason).toBe("read deadline exceeded: no frame for 400 ms");
    expect(info.code).toBe(1006);
    expect(first.pings).toBeGreaterThanOrEqual(1);
    await first.waitClosed();
    await peer.connection(1);
  });

  it("any frame extends the read deadline, not only pongs", async () => {
    const peer = await startPeer({ autoPong: false });
    const agent = pool.create({ server: peer.serverUrl(), pingIntervalMs: 100, readDeadlineMs: 1_000 });
    const disconnects: DisconnectInfo[] = [];
    agent.on("disconnected", (d) => disconnects.push(d));
    agent.start();
    const connection = await peer.connection(0);
    // Data frames every 100 ms for 3 s (three read deadlines), never a pong.
    let sent = 0;
    const timer = setInterval(() => {
      connection.send({ type: "connected" });
      sent += 1;
    }, 100);
    try {
      await waitFor(() => sent >= 30, "30 data frames");
      expect(disconnects).toEqual([]);
      expect(agent.connected).toBe(true);
      expect(connection.pings).toBeGreaterThanOrEqual(10);
    } finally {
      clearInterval(timer);
    }
    // Silence again: now the deadline fires.
    const [info] = await nextEvent<[DisconnectInfo]>(agent, "disconnected");
    expect(info.reason).toMatch(/^read deadline exceeded/);
  });

  it("accepts a frame of exactly 64 KiB", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    agent.start();
    const connection = await peer.connection(0);
    const skeleton = JSON.stringify({ type: "report_now", id: "big", pad: "" });
    const frame = JSON.stringify({ type: "report_now", id: "big", pad: "x".repeat(65_536 - skeleton.length) });
    expect(Buffer.byteLength(frame)).toBe(65_536);
    connection.send(frame);
    expect(await connection.nextMessage((m) => m.id === "big", "ack of the 64 KiB frame")).toEqual({ type: "ack", id: "big", ok: true });
  });

  it("closes the connection with 1009 on a frame over 64 KiB, then reconnects", async () => {
    const peer = await startPeer();
    const agent = pool.create({ server: peer.serverUrl() });
    const errors: Error[] = [];
    agent.on("error", (e) => errors.push(e));
    const disconnected = nextEvent<[DisconnectInfo]>(agent, "disconnected");
    agent.start();
    const connection = await peer.connection(0);
    connection.send(JSON.stringify({ type: "report_now", pad: "x".repeat(65_537) }));
    expect((await connection.waitClosed()).code).toBe(1009);
    expect((await disconnected)[0]).toEqual({ code: 1009, reason: "Max payload size exceeded" });
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/max payload size exceeded/i)]);
    await peer.connection(1);
  });

  it("bounds the opening handshake and retries", async () => {
    // The peer accepts TCP and the upgrade request, then never answers.
    const peer = await startPeer({ stall: true });
    const agent = pool.create({ server: peer.serverUrl(), handshakeTimeoutMs: 300 });
    const error = nextEvent<[Error]>(agent, "error");
    agent.start();
    expect((await error)[0].message).toMatch(/handshake/i);
    await waitFor(() => peer.upgradeRequests.length >= 2, "a second attempt");
    expect(agent.connected).toBe(false);
  });
});
