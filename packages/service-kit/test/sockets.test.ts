import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { CloseCode, CodedError, type RevocationEvent } from "@patchmon-ws/protocol";
import {
  BufferedSender,
  ConnectionQuota,
  HeartbeatMonitor,
  LiveSocket,
  RevocationHub,
  WARNINGS_PER_CONNECTION,
  WARNING_WINDOW_MS,
  checkHandshake,
  createLogger,
  type OutboxMessage,
  type Logger,
} from "../src/index.js";

class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  pending: (() => void)[] = [];
  pings = 0;
  pongs = 0;
  closed: [number, string] | undefined;
  terminated = false;
  send(data: string, cb: (err?: Error) => void) {
    this.sent.push(data);
    this.bufferedAmount += data.length;
    this.pending.push(() => {
      this.bufferedAmount -= data.length;
      cb();
    });
  }
  flushAll() {
    while (this.pending.length) this.pending.shift()!();
  }
  ping() {
    this.pings++;
  }
  pong() {
    this.pongs++;
  }
  close(code: number, reason: string) {
    this.closed = [code, reason];
    this.readyState = 2;
  }
  terminate() {
    this.terminated = true;
    this.readyState = 3;
  }
}

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("test", "warn");
  logger.warn = ((fields: Record<string, unknown>) => void lines.push(fields)) as Logger["warn"];
  return { logger, lines };
}

const request = (headers: Record<string, string>, method = "GET") => ({ method, headers }) as unknown as IncomingMessage;
const goodHeaders = { upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };

describe("checkHandshake", () => {
  it("accepts a well-formed handshake (versions 13 and 8)", () => {
    expect(() => checkHandshake(request(goodHeaders))).not.toThrow();
    expect(() => checkHandshake(request({ ...goodHeaders, "sec-websocket-version": "8" }))).not.toThrow();
    expect(() => checkHandshake(request({ ...goodHeaders, "sec-websocket-protocol": "a, b.c" }))).not.toThrow();
  });

  it("refuses what ws would refuse, with coded errors instead of ws's plain text", () => {
    const refusal = (req: IncomingMessage) => {
      try {
        checkHandshake(req);
      } catch (err) {
        return { code: (err as CodedError).code, status: (err as CodedError).status };
      }
      return undefined;
    };
    expect(refusal(request(goodHeaders, "POST"))).toEqual({ code: "METHOD_NOT_ALLOWED", status: 405 });
    expect(refusal(request({ ...goodHeaders, upgrade: "h2c" }))).toEqual({ code: "BAD_REQUEST", status: 400 });
    expect(refusal(request({ ...goodHeaders, "sec-websocket-key": "short" }))).toEqual({ code: "BAD_REQUEST", status: 400 });
    const { "sec-websocket-key": _key, ...noKey } = goodHeaders;
    expect(refusal(request(noKey))).toEqual({ code: "BAD_REQUEST", status: 400 });
    expect(refusal(request({ ...goodHeaders, "sec-websocket-version": "12" }))).toEqual({ code: "UNSUPPORTED_WEBSOCKET_VERSION", status: 426 });
    expect(refusal(request({ ...goodHeaders, "sec-websocket-protocol": "a b" }))).toEqual({ code: "BAD_REQUEST", status: 400 });
  });
});

describe("LiveSocket", () => {
  it("answers pings, and closes a flood with 1008 ping_flood (a close frame, not a silent cut)", () => {
    const socket = new FakeSocket();
    const live = new LiveSocket(socket);
    const policy = { maxPings: 3, windowMs: 1000 };
    expect([live.pinged(undefined, policy, 0), live.pinged(undefined, policy, 1), live.pinged(undefined, policy, 2)]).toEqual([true, true, true]);
    expect(live.pinged(undefined, policy, 3)).toBe(false);
    expect(socket.pongs).toBe(3);
    expect(socket.closed).toEqual([CloseCode.POLICY_VIOLATION, "ping flood"]);
    expect(live.endReason).toBe("ping_flood");
    expect(live.open).toBe(false);
  });

  it("lets a well-behaved pinger ping forever (the window slides)", () => {
    const live = new LiveSocket(new FakeSocket());
    const policy = { maxPings: 2, windowMs: 1000 };
    for (let t = 0; t < 100_000; t += 500) expect(live.pinged(undefined, policy, t)).toBe(true);
  });

  it("keeps the first end reason, and is no longer open once ending", () => {
    const socket = new FakeSocket();
    const live = new LiveSocket<"replaced">(socket);
    live.end(CloseCode.REPLACED, "replaced", "replaced by a newer connection");
    live.kill("socket_error");
    expect(live.endReason).toBe("replaced");
    expect(live.open).toBe(false);
  });

  it("heartbeat: pings while alive, reports silence after two intervals", () => {
    const socket = new FakeSocket();
    const live = new LiveSocket(socket);
    const silent: LiveSocket[] = [];
    const monitor = new HeartbeatMonitor(() => [live], (peer) => silent.push(peer));
    monitor.tick();
    live.life();
    monitor.tick();
    monitor.tick();
    expect(silent).toEqual([]);
    monitor.tick();
    expect(silent).toEqual([live]);
    expect(socket.pings).toBe(3);
  });

  it("rate-limits warnings per connection and says how many it suppressed", () => {
    const { logger, lines } = recordingLogger();
    const live = new LiveSocket(new FakeSocket());
    for (let i = 0; i < 1000; i++) live.warn(logger, { i }, "bad frame", 0);
    expect(lines).toHaveLength(WARNINGS_PER_CONNECTION);
    expect(lines.at(-1)).toMatchObject({ furtherWarningsSuppressed: true });
    live.warn(logger, { i: "later" }, "bad frame", WARNING_WINDOW_MS);
    expect(lines.at(-1)).toMatchObject({ i: "later", suppressedWarnings: 1000 - WARNINGS_PER_CONNECTION });
  });
});

describe("BufferedSender", () => {
  const chunk = (n: number): OutboxMessage => ({ json: `chunk-${n}`.padEnd(100, "."), droppable: false });
  const gap = (dropped: number): OutboxMessage => ({ json: `gap ${dropped}`, droppable: false });

  it("stops sending above the high-water mark, pauses its source, and resumes when the socket drains", () => {
    const socket = new FakeSocket();
    const pressure: boolean[] = [];
    const sender = new BufferedSender(socket, { maxQueued: 10, highWaterBytes: 250, gap, onPressure: (p) => pressure.push(p) });
    for (let i = 0; i < 10; i++) sender.push(chunk(i));
    expect(socket.sent).toHaveLength(3);
    expect(sender.queued).toBe(7);
    expect(pressure).toEqual([true]);
    while (socket.pending.length) socket.flushAll();
    expect(socket.sent).toHaveLength(10);
    expect(pressure).toEqual([true, false]);
  });

  it("drops the oldest droppable messages for a reader that never reads, and announces the gap", () => {
    const socket = new FakeSocket();
    const dropped: number[] = [];
    const sender = new BufferedSender(socket, { maxQueued: 5, highWaterBytes: 1, gap, onDropped: (n) => dropped.push(n) });
    for (let i = 0; i < 1000; i++) sender.push({ json: `e${i}`, droppable: true });
    expect(sender.queued).toBeLessThanOrEqual(6);
    while (socket.pending.length) socket.flushAll();
    expect(socket.sent.slice(0, 2)).toEqual(["e0", "gap 994"]);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(994);
  });
});

describe("ConnectionQuota", () => {
  it("caps per key (429) and per process (503), and frees slots on release", () => {
    const quota = new ConnectionQuota<"user" | "host">({ what: "terminal sessions", total: 3, per: { user: 2, host: 3 } });
    quota.acquire({ user: "a", host: "h" });
    quota.acquire({ user: "a", host: "h" });
    expect(() => quota.acquire({ user: "a", host: "h" })).toThrow(expect.objectContaining({ code: "RATE_LIMITED", status: 429, retryAfter: 5 }));
    quota.acquire({ user: "b", host: "h" });
    expect(() => quota.acquire({ user: "c" })).toThrow(expect.objectContaining({ code: "OVERLOADED", status: 503 }));
    quota.release({ user: "a", host: "h" });
    expect(quota.held("user", "a")).toBe(1);
    quota.acquire({ user: "a", host: "h" });
    expect(quota.size).toBe(3);
  });
});

describe("RevocationHub", () => {
  const event = (kind: RevocationEvent["kind"], id: string, reason: RevocationEvent["reason"]): RevocationEvent => ({ kind, id, reason, at: 1 });

  function target(log: string[], name: string, withRecheck = false) {
    return {
      revoked: (code: number, text: string) => log.push(`${name}:${code}:${text}`),
      ...(withRecheck ? { userChanged: () => log.push(`${name}:recheck`) } : {}),
    };
  }

  it("closes every connection registered under the event's key with its documented code", () => {
    const hub = new RevocationHub(createLogger("test", "silent"));
    const log: string[] = [];
    const a = target(log, "a");
    const b = target(log, "b");
    const agent = target(log, "agent");
    hub.track({ userId: "u1", sessionId: "s1" }, a);
    hub.track({ userId: "u1", sessionId: "s2" }, b);
    hub.track({ hostId: "h1" }, agent);
    expect(hub.apply(event("session", "s2", "logout"))).toBe(1);
    expect(log).toEqual(["b:4001:credentials revoked (logout)"]);
    expect(hub.apply(event("user", "u1", "user_disabled"))).toBe(2);
    expect(hub.apply(event("host", "h1", "key_rotated"))).toBe(1);
    expect(hub.apply(event("host", "h1", "host_deleted"))).toBe(1);
    expect(log.slice(1)).toEqual([
      "a:4001:credentials revoked (user_disabled)",
      "b:4001:credentials revoked (user_disabled)",
      "agent:4001:API key rotated or revoked",
      "agent:4005:host deleted",
    ]);
    hub.untrack({ userId: "u1", sessionId: "s1" }, a);
    hub.untrack({ userId: "u1", sessionId: "s2" }, b);
    hub.untrack({ hostId: "h1" }, agent);
    expect(hub.tracked).toEqual({ users: 0, sessions: 0, hosts: 0 });
  });

  it("asks connections that can re-check to do so when the user changed; others close", () => {
    const hub = new RevocationHub(createLogger("test", "silent"));
    const log: string[] = [];
    hub.track({ userId: "u1" }, target(log, "board", true));
    hub.track({ userId: "u1" }, target(log, "stream"));
    hub.apply(event("user", "u1", "user_changed"));
    expect(log).toEqual(["board:recheck", "stream:4001:permissions changed; reconnect"]);
  });

  it("runs listeners (caches) before closing connections", () => {
    const hub = new RevocationHub(createLogger("test", "silent"));
    const order: string[] = [];
    const forgotten: string[] = [];
    hub.forgetRevokedIn({ revoke: (kind, id) => forgotten.push(`${kind}:${id}`) });
    hub.onEvent(() => order.push("listener"));
    hub.track({ sessionId: "s1" }, { revoked: () => order.push("socket") });
    hub.apply(event("session", "s1", "logout"));
    hub.apply(event("host", "h1", "key_rotated"));
    expect(order).toEqual(["listener", "socket", "listener"]);
    expect(forgotten).toEqual(["session:s1"]);
  });
});
