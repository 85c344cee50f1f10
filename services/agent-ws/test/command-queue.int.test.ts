/**
 * The durable command queue against a real redis-server (BullMQ), with a scripted router standing in for the
 * agents: coalescing (newest wins, never both skipped), parking offline hosts and promoting them on reconnect,
 * the reconnect-while-parking race, retries on missing acks, refusals, expiry, idempotent enqueues, deletion.
 */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { QueueNames, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import { startRedisServer, type TestRedisServer } from "@patchmon-ws/stack";
import { CommandQueue } from "../src/commands/command-queue.js";
import type { SendOutcome } from "../src/commands/delivery-plan.js";
import type { Target } from "../src/commands/delivery-plan.js";
import { eventually } from "./support/stack.js";
import { silentLogger, testMetrics } from "./fakes.js";

/** Stands in for the router: hosts are online or offline; deliveries are recorded. */
class ScriptedRouter {
  online = new Set<string>();
  delivered: { hostId: string; commandId: string; message: ServerToAgentMessage }[] = [];
  /** Outcome override per host (e.g. an agent that refuses, or never acks). */
  behaviour = new Map<string, "reject" | "no-ack">();
  /** Called after the offline verdict, before the worker parks the job (to stage races). */
  onOffline: ((hostId: string) => Promise<void>) | undefined;

  async send(target: Target, message: ServerToAgentMessage): Promise<SendOutcome> {
    if (!this.online.has(target.hostId)) {
      await this.onOffline?.(target.hostId);
      return { ...target, status: "offline" };
    }
    const behaviour = this.behaviour.get(target.hostId);
    if (behaviour === "reject") return { ...target, status: "rejected", error: "integration disabled" };
    this.delivered.push({ ...target, message });
    if (behaviour === "no-ack") return { ...target, status: "delivered", ackTimedOut: true };
    return { ...target, status: "acked" };
  }

  for(hostId: string) {
    return this.delivered.filter((d) => d.hostId === hostId);
  }
}

describe("durable command queue (BullMQ on redis-server)", () => {
  let redis: TestRedisServer;
  let clients: Redis[] = [];
  let queue: CommandQueue;
  let router: ScriptedRouter;
  let inspect: Queue;
  let n = 0;
  const host = () => `host-${++n}`;
  const enqueue = (hostId: string, message: ServerToAgentMessage, commandId = `cmd-${++n}`) => queue.enqueue(hostId, commandId, message, { ackTimeoutMs: 1000 });

  const start = (ttlMs = 60_000) => {
    const api = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    const blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    clients.push(api, blocking);
    queue = new CommandQueue(api, { attempts: 3, backoffMs: 50, offlineRecheckMs: 60_000, ttlMs, concurrency: 20, logger: silentLogger, metrics: testMetrics() });
    router = new ScriptedRouter();
    queue.startWorker(router, blocking);
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    clients.push(client);
    inspect = new Queue(QueueNames.agentCommands, { connection: client });
  });

  afterEach(async () => {
    await queue?.close(1000);
  });

  afterAll(async () => {
    await inspect?.close();
    for (const c of clients) c.disconnect();
    await redis?.dispose();
  });

  const state = async (jobId: string) => (await inspect.getJob(jobId))?.getState();

  it("delivers at once to an online host, and re-enqueueing the same command id is a no-op", async () => {
    start();
    const h = host();
    router.online.add(h);
    const first = await enqueue(h, { type: "update_agent" }, "same-id");
    await eventually(async () => (await state(first.jobId)) === "completed", 10_000, "completed");
    const again = await enqueue(h, { type: "update_agent" }, "same-id");
    expect(again).toEqual({ jobId: first.jobId, replaces: null });
    await new Promise((r) => setTimeout(r, 200));
    expect(router.for(h)).toHaveLength(1);
  });

  it("coalescing never skips both of two racing state setters: the newest value is delivered", async () => {
    start();
    const hosts = Array.from({ length: 40 }, host);
    for (const h of hosts) router.online.add(h);
    await Promise.all(
      hosts.map(async (h) => {
        await enqueue(h, { type: "settings_update", update_interval: 10 });
        await enqueue(h, { type: "settings_update", update_interval: 20 });
      }),
    );
    await eventually(async () => {
      const counts = await inspect.getJobCounts("waiting", "active");
      return (counts.waiting ?? 0) + (counts.active ?? 0) === 0;
    }, 15_000, "drained");
    for (const h of hosts) {
      const values = router.for(h).map((d) => (d.message as { update_interval: number }).update_interval);
      // the older may have gone out before the newer existed; the newer always does
      expect(values.at(-1), h).toBe(20);
      expect(values.length, h).toBeGreaterThanOrEqual(1);
    }
  });

  it("parks commands of an offline host, coalesces them, and delivers them once when it connects", async () => {
    start();
    const h = host();
    const jobs: { jobId: string; replaces: string | null }[] = [];
    for (let i = 0; i < 4; i++) jobs.push(await enqueue(h, { type: "report_now" }));
    jobs.push(await enqueue(h, { type: "integration_toggle", integration: "docker", enabled: true }));
    jobs.push(await enqueue(h, { type: "integration_toggle", integration: "docker", enabled: false }));
    jobs.push(await enqueue(h, { type: "compliance_scan_cancel" }));
    // The second report_now replaces the first, unless the worker held the first at that instant (then the first is
    // skipped later, when it finds a newer one): either way only one report_now is delivered (asserted below).
    expect([jobs[0]!.jobId, null]).toContain(jobs[1]!.replaces);
    await eventually(async () => (await Promise.all(jobs.map((j) => state(j.jobId)))).every((s) => s === "delayed" || s === "completed"), 10_000, "parked");
    expect(router.delivered).toEqual([]);
    router.online.add(h);
    expect(await queue.promotePending(h)).toBeGreaterThan(0);
    await eventually(async () => (await Promise.all(jobs.map((j) => state(j.jobId)))).every((s) => s === "completed"), 10_000, "all completed");
    expect(router.for(h).map((d) => d.message)).toEqual(
      expect.arrayContaining([{ type: "report_now" }, { type: "integration_toggle", integration: "docker", enabled: false }, { type: "compliance_scan_cancel" }]),
    );
    expect(router.for(h)).toHaveLength(3);
  });

  it("a job is only superseded by a newer one that exists (a newer enqueue whose add failed does not cancel it)", async () => {
    start();
    const h = host();
    const job = await enqueue(h, { type: "report_now" });
    await eventually(async () => (await state(job.jobId)) === "delayed", 10_000, "parked");
    await clients[0]!.set(`agent-ws:latest:${h}:report_now`, `${h}.never-added`);
    router.online.add(h);
    await queue.promotePending(h);
    await eventually(async () => (await state(job.jobId)) === "completed", 10_000, "delivered");
    expect(router.for(h)).toHaveLength(1);
  });

  it("a reconnect between the offline verdict and the parking still delivers at once", async () => {
    start();
    const h = host();
    router.onOffline = async (hostId) => {
      // the agent connects right now, while this job is still active: promotion finds nothing parked yet
      router.online.add(hostId);
      await queue.promotePending(hostId);
    };
    const job = await enqueue(h, { type: "upgrade_ssg" });
    await eventually(async () => (await state(job.jobId)) === "completed", 10_000, "delivered without waiting for the re-check");
    expect(router.for(h)).toHaveLength(1);
  });

  it("retries a delivery the agent did not ack (same command id), and fails for good when it refuses", async () => {
    start();
    const silent = host();
    router.online.add(silent);
    router.behaviour.set(silent, "no-ack");
    const retried = await enqueue(silent, { type: "install_scanner" });
    await eventually(async () => (await state(retried.jobId)) === "failed", 10_000, "failed after the attempts");
    const commandId = retried.jobId.split(".")[1]!;
    expect(router.for(silent).map((d) => d.commandId)).toEqual([commandId, commandId, commandId]);
    expect((await inspect.getJob(retried.jobId))?.failedReason).toMatch(/did not acknowledge/);

    const refusing = host();
    router.online.add(refusing);
    router.behaviour.set(refusing, "reject");
    const refused = await enqueue(refusing, { type: "set_compliance_mode", mode: "enabled" });
    await eventually(async () => (await state(refused.jobId)) === "failed", 10_000, "failed");
    expect((await inspect.getJob(refused.jobId))?.failedReason).toBe("the agent rejected the command: integration disabled");
    expect((await inspect.getJob(refused.jobId))?.attemptsMade).toBe(1);
  });

  it("a command that outlives its TTL fails with a reason instead of vanishing", async () => {
    start(500);
    const h = host();
    const job = await enqueue(h, { type: "update_agent" });
    // Parked while the host is offline; on a heavily loaded machine the worker may only reach it after the TTL,
    // in which case it fails at once, which is what this test is about too.
    await eventually(async () => ["delayed", "failed"].includes((await state(job.jobId)) ?? "missing"), 10_000, "parked or expired");
    await new Promise((r) => setTimeout(r, 600));
    router.online.add(h);
    await queue.promotePending(h);
    await eventually(async () => (await state(job.jobId)) === "failed", 10_000, "expired");
    expect((await inspect.getJob(job.jobId))?.failedReason).toMatch(/not delivered within/);
    expect(router.for(h)).toEqual([]);
  });

  it("reconnects of many hosts are promoted in batches, each host's own jobs only", async () => {
    start();
    const hosts = Array.from({ length: 250 }, host);
    const jobs = await Promise.all(hosts.map((h) => enqueue(h, { type: "update_agent" })));
    await eventually(async () => (await Promise.all(jobs.map((j) => state(j.jobId)))).every((s) => s === "delayed"), 15_000, "all parked");
    const idle = host();
    for (const h of hosts) router.online.add(h);
    const promoted = await Promise.all([...hosts, idle].map((h) => queue.promotePending(h)));
    expect(promoted.slice(0, 250).every((n) => n === 1)).toBe(true);
    expect(promoted[250]).toBe(0);
    await eventually(async () => (await Promise.all(jobs.map((j) => state(j.jobId)))).every((s) => s === "completed"), 15_000, "all delivered");
    expect(router.delivered).toHaveLength(250);
  });

  it("discards a deleted host's parked commands, once", async () => {
    start();
    const h = host();
    const job = await enqueue(h, { type: "update_agent" });
    await eventually(async () => (await state(job.jobId)) === "delayed", 10_000, "parked");
    expect(await queue.discardHost(h, 123)).toBe(1);
    expect(await queue.discardHost(h, 123)).toBe(0);
    expect(await inspect.getJob(job.jobId)).toBeUndefined();
  });
});
