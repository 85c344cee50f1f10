/**
 * RelayLink over a real nats-server (and a three-node cluster losing a node): order, duplicates, loss repaired by
 * resending, a last message that must arrive after stop(), older peers that do not acknowledge, and the faults.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { encodeJson, RelayLink, type RelayLinkFault } from "@patchmon-ws/service-kit";
import { eventually } from "@patchmon-ws/testkit";
import { startNatsCluster, startNatsServer, type TestNatsCluster, type TestNatsServer } from "@patchmon-ws/stack";

const Message = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("data"), seq: z.number().int(), n: z.number().int() }),
  z.looseObject({ type: z.literal("closed"), seq: z.number().int() }),
  z.looseObject({ type: z.literal("keepalive") }),
]);
type Message = z.infer<typeof Message>;
const TYPES = new Set(["data", "closed", "keepalive"]);

let nats: TestNatsServer;
const connections: NatsConnection[] = [];
let counter = 0;

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await nats?.dispose();
});

async function connection(servers = nats.url): Promise<NatsConnection> {
  const nc = await connect({ servers: servers.split(","), reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  connections.push(nc);
  return nc;
}

interface End {
  link: RelayLink<Message, Message>;
  received: Message[];
  faults: { fault: RelayLinkFault; detail: string }[];
}

/** One side of a session `name`: publishes on <name>.<side>, listens on the other side's subject. */
function end(nc: NatsConnection, name: string, side: "a" | "b", timing: { keepaliveMs?: number; timeoutMs?: number; resendAfterMs?: number } = {}): End {
  const received: Message[] = [];
  const faults: End["faults"] = [];
  const link = new RelayLink<Message, Message>(nc, {
    publishSubject: `${name}.${side}`,
    subscribeSubject: `${name}.${side === "a" ? "b" : "a"}`,
    inbound: Message,
    inboundTypes: TYPES,
    keepaliveMs: timing.keepaliveMs ?? 200,
    timeoutMs: timing.timeoutMs ?? 5000,
    resendAfterMs: timing.resendAfterMs ?? 100,
    onMessage: (m) => received.push(m),
    onFault: (fault, detail) => faults.push({ fault, detail }),
  });
  return { link, received, faults };
}

const numbers = (received: Message[]) => received.filter((m) => m.type === "data").map((m) => (m as { n: number }).n);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A raw peer on subject `<name>.b` that records what the link sent it. */
function rawPeer(nc: NatsConnection, name: string) {
  const seen: Record<string, unknown>[] = [];
  const sub = nc.subscribe(`${name}.a`, {
    callback: (_e, msg) => {
      seen.push(msg.json());
    },
  });
  return { seen, sub, send: (body: Record<string, unknown>) => nc.publish(`${name}.b`, encodeJson(body)) };
}

describe("RelayLink", () => {
  it("delivers in order, exactly once, and acknowledges everything", async () => {
    const name = `relay${++counter}`;
    const a = end(await connection(), name, "a");
    const b = end(await connection(), name, "b");
    await connections.at(-1)!.flush();
    for (const n of range(500)) a.link.send({ type: "data", seq: 0, n }, true);
    await eventually(() => numbers(b.received).length === 500, 10_000, "all delivered");
    expect(numbers(b.received)).toEqual(range(500));
    await eventually(() => a.link.unacknowledged === 0, 5000, "all acknowledged");
    expect([a.faults, b.faults]).toEqual([[], []]);
    a.link.stop();
    b.link.stop();
  });

  it("resends what a peer missed (its subscription came late, as after a reconnect), in order", async () => {
    const name = `relay${++counter}`;
    const a = end(await connection(), name, "a");
    // Nobody listens yet: these ten are lost in NATS.
    for (const n of range(10)) a.link.send({ type: "data", seq: 0, n }, true);
    expect(a.link.unacknowledged).toBe(10);
    const b = end(await connection(), name, "b");
    for (const n of range(5).map((i) => i + 10)) a.link.send({ type: "data", seq: 0, n }, true);
    await eventually(() => numbers(b.received).length === 15, 10_000, "the lost ten resent before the rest");
    expect(numbers(b.received)).toEqual(range(15));
    await eventually(() => a.link.unacknowledged === 0, 5000, "acknowledged");
    expect(b.faults).toEqual([]);
    a.link.stop();
    b.link.stop();
  });

  it("skips duplicates and anything past a gap from a peer that acknowledges, and asks again at once", async () => {
    const name = `relay${++counter}`;
    const nc = await connection();
    const a = end(nc, name, "a");
    const peer = rawPeer(nc, name);
    peer.send({ type: "data", seq: 0, n: 0, ack: 0 });
    peer.send({ type: "data", seq: 0, n: 0, ack: 0 });
    peer.send({ type: "data", seq: 2, n: 2, ack: 0 });
    await eventually(() => peer.seen.some((m) => m.type === "keepalive" && m.ack === 1), 5000, "an acknowledgement of message 0 only");
    peer.send({ type: "data", seq: 1, n: 1, ack: 0 });
    peer.send({ type: "data", seq: 2, n: 2, ack: 0 });
    await eventually(() => numbers(a.received).length === 3, 5000, "the resent messages");
    expect(numbers(a.received)).toEqual([0, 1, 2]);
    expect(a.faults).toEqual([]);
    peer.sub.unsubscribe();
    a.link.stop();
  });

  it("stop() keeps resending the last message until the peer has it", async () => {
    const name = `relay${++counter}`;
    const a = end(await connection(), name, "a");
    a.link.send({ type: "closed", seq: 0 }, true);
    a.link.stop();
    expect(a.link.isStopped).toBe(true);
    const b = end(await connection(), name, "b");
    // The peer's first message (its keepalive) carries ack 0: the link learns it acknowledges, and resends.
    await eventually(() => b.received.some((m) => m.type === "closed"), 5000, "the last message");
    await eventually(() => a.link.unacknowledged === 0, 5000, "acknowledged, and the link gone");
    b.link.stop();
  });

  it("an older peer (no acks) gets no resends, and a gap in its stream is a fault", async () => {
    const name = `relay${++counter}`;
    const nc = await connection();
    const a = end(nc, name, "a");
    const peer = rawPeer(nc, name);
    peer.send({ type: "data", seq: 0, n: 0 });
    await eventually(() => numbers(a.received).length === 1, 5000, "the first message");
    a.link.send({ type: "data", seq: 0, n: 100 }, true);
    // Several resend periods pass: only the message itself and keepalives arrive, never a second copy.
    await eventually(() => peer.seen.filter((m) => m.type === "keepalive").length >= 3, 5000, "keepalives");
    expect(peer.seen.filter((m) => m.type === "data")).toHaveLength(1);
    expect(a.link.unacknowledged).toBe(0);
    peer.send({ type: "data", seq: 2, n: 2 });
    await eventually(() => a.faults.length === 1, 5000, "the fault");
    expect(a.faults[0]).toMatchObject({ fault: "gap", detail: "expected message 1, got 2" });
    peer.sub.unsubscribe();
  });

  it("a silent peer is a fault after timeoutMs; garbage is a fault at once", async () => {
    const name = `relay${++counter}`;
    const nc = await connection();
    const silent = end(nc, name, "a", { keepaliveMs: 100, timeoutMs: 400 });
    await eventually(() => silent.faults.length === 1, 5000, "the silence fault");
    expect(silent.faults[0]!.fault).toBe("silent");

    const other = `relay${++counter}`;
    const fed = end(nc, other, "a");
    nc.publish(`${other}.b`, new TextEncoder().encode("not json"));
    await eventually(() => fed.faults.length === 1, 5000, "the malformed fault");
    expect(fed.faults[0]).toMatchObject({ fault: "malformed", detail: "not JSON" });
  });
});

describe("RelayLink across a NATS cluster losing a node", () => {
  let cluster: TestNatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  it("a stream in both directions survives kill -9 of the node one side is connected to: nothing lost, nothing twice", async () => {
    const name = `relay${++counter}`;
    const [n1, n2] = cluster.nodes;
    // Side a lives on node 1 first (then whichever node it reconnects to); side b on node 2.
    const a = end(await connection([n1!.url, n2!.url].join(",")), name, "a", { keepaliveMs: 300, timeoutMs: 10_000, resendAfterMs: 200 });
    const b = end(await connection(n2!.url), name, "b", { keepaliveMs: 300, timeoutMs: 10_000, resendAfterMs: 200 });
    let sent = 0;
    const pump = setInterval(() => {
      for (let i = 0; i < 20 && sent < 2000; i++, sent++) {
        a.link.send({ type: "data", seq: 0, n: sent }, true);
        b.link.send({ type: "data", seq: 0, n: sent }, true);
      }
    }, 5);
    try {
      await eventually(() => sent >= 400, 10_000, "streaming");
      await n1!.kill();
      await eventually(() => sent >= 2000, 30_000, "all sent");
      await eventually(() => numbers(a.received).length === 2000 && numbers(b.received).length === 2000, 30_000, "all delivered both ways").catch((err) => {
        throw new Error(`${err.message}: a got ${numbers(a.received).length}, b got ${numbers(b.received).length}; unacked a ${a.link.unacknowledged} b ${b.link.unacknowledged}; faults ${JSON.stringify([a.faults, b.faults])}`);
      });
    } finally {
      clearInterval(pump);
    }
    expect(numbers(b.received)).toEqual(range(2000));
    expect(numbers(a.received)).toEqual(range(2000));
    expect([a.faults, b.faults]).toEqual([[], []]);
    await n1!.restart();
  }, 90_000);
});
