import { createHash } from "node:crypto";
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { CodedError, CommandId, HostId, QueueNames, ServerToAgentMessage } from "@patchmon-ws/protocol";
import { toCodedError, type Logger } from "@patchmon-ws/service-kit";
import { coalesceKey } from "./coalescing.js";
import type { CommandRouter } from "./command-router.js";
import { decideAfterError, decideAfterSend, isExpired, type JobDecision } from "./job-outcome.js";
import type { AgentWsMetrics } from "../metrics.js";

/** A durable command, as stored in the agent-commands queue. */
export const CommandJobData = z.looseObject({
  hostId: HostId,
  commandId: CommandId,
  message: ServerToAgentMessage,
  /** Commands with the same key replace each other while the host is offline (see coalescing.ts). */
  coalesceKey: z.string().max(64).nullable(),
  enqueuedAt: z.number().int(),
  ackTimeoutMs: z.number().int().positive(),
  requestedBy: z.string().max(128).nullable().optional(),
});
export type CommandJobData = z.infer<typeof CommandJobData>;

export interface CommandQueueOptions {
  attempts: number;
  backoffMs: number;
  offlineRecheckMs: number;
  ttlMs: number;
  concurrency: number;
  logger: Logger;
  metrics: AgentWsMetrics;
}

/** Redis keys agent-ws keeps beside BullMQ's (host ids are validated identifiers). */
const keys = {
  /** Job ids of a host's undelivered commands, so a reconnect can promote them. */
  pending: (hostId: string) => `agent-ws:pending:${hostId}`,
  /** The newest queued job of a coalescing key: older ones are superseded. */
  latest: (hostId: string, key: string) => `agent-ws:latest:${hostId}:${key}`,
  /** Bumped on every connect; closes the race between "offline, park the job" and a reconnect. */
  connects: (hostId: string) => `agent-ws:connects:${hostId}`,
  /** One replica handles a host deletion. */
  deleted: (hostId: string, at: number) => `agent-ws:deleted:${hostId}:${at}`,
};

/** How long a host's connect generation is kept (it only matters while one of its jobs is being delivered). */
const CONNECTS_TTL_SECONDS = 7 * 24 * 3600;

/**
 * For each host (KEYS in pairs: connect generation, pending job ids): bump the generation, return the parked job
 * ids. ARGV[1] generation TTL (s). One call serves a whole batch of reconnecting hosts.
 */
const ONLINE_SCRIPT = `
local result = {}
for i = 1, #KEYS, 2 do
  redis.call("INCR", KEYS[i])
  redis.call("EXPIRE", KEYS[i], ARGV[1])
  result[#result + 1] = redis.call("SMEMBERS", KEYS[i + 1])
end
return result
`;

/** Reconnects are gathered this long (or up to PROMOTE_BATCH_SIZE) into one Redis call: a reconnect storm of
 * 10 000 agents costs a few hundred round trips, not 10 000. */
const PROMOTE_BATCH_MS = 5;
const PROMOTE_BATCH_SIZE = 200;

/** KEYS[1] latest pointer; ARGV[1] the job that failed to be added, ARGV[2] the previous pointer ("" = none). */
const RESTORE_LATEST_SCRIPT = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  if ARGV[2] == "" then redis.call("DEL", KEYS[1]) else redis.call("SET", KEYS[1], ARGV[2], "KEEPTTL") end
end
return 0
`;

export interface EnqueueResult {
  jobId: string;
  /** An older queued job this one supersedes (it will complete as "superseded" without a delivery). */
  replaces: string | null;
}

/**
 * The durable path of commands (BullMQ queue `agent-commands`): jobs are delivered by whichever replica's worker
 * picks them up, through the command router, so they reach the agent wherever it is connected. Offline hosts'
 * jobs are parked (delayed) and promoted the moment the host reconnects on any replica; idempotent and
 * state-setting commands coalesce while offline; transient failures retry with exponential backoff; nothing is
 * dropped: every job ends completed or failed, with a reason, in Bull Board.
 */
export class CommandQueue {
  readonly queue: Queue;
  private worker: Worker | undefined;
  private readonly onlineScriptSha = createHash("sha1").update(ONLINE_SCRIPT).digest("hex");
  private promoteBatch: { hostId: string; resolve: (promoted: number) => void; reject: (err: unknown) => void }[] = [];
  private promoteTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly options: CommandQueueOptions,
  ) {
    this.queue = new Queue(QueueNames.agentCommands, { connection: redis });
  }

  /** Queues a command. Re-queuing the same host + command id is a no-op (same job), so callers may retry safely. */
  async enqueue(
    hostId: string,
    commandId: string,
    message: ServerToAgentMessage,
    options: { ackTimeoutMs: number; requestedBy?: string | null },
  ): Promise<EnqueueResult> {
    const jobId = `${hostId}.${commandId}`;
    const key = coalesceKey(message);
    const data: CommandJobData = {
      hostId,
      commandId,
      message,
      coalesceKey: key,
      enqueuedAt: Date.now(),
      ackTimeoutMs: options.ackTimeoutMs,
      requestedBy: options.requestedBy ?? null,
    };
    try {
      // The same host + command id again (a caller's retry): the job already exists; change nothing.
      if (await this.queue.getJob(jobId)) return { jobId, replaces: null };
      // Pending first: a job must never be deliverable while a reconnect could miss it.
      await this.redis.sadd(keys.pending(hostId), jobId);
      // Latest before the job exists, so no worker ever compares a new job with a stale pointer (both would
      // then skip each other). A worker skips a job only for a newer one that exists (see process()).
      let previous: string | null = null;
      if (key) previous = (await this.redis.call("SET", keys.latest(hostId, key), jobId, "PX", String(this.options.ttlMs * 2), "GET")) as string | null;
      try {
        await this.queue.add(message.type, data, {
          jobId,
          attempts: this.options.attempts,
          backoff: { type: "exponential", delay: this.options.backoffMs },
          removeOnComplete: { age: 24 * 3600, count: 10_000 },
          removeOnFail: { age: 7 * 24 * 3600 },
        });
      } catch (err) {
        if (key) await this.redis.eval(RESTORE_LATEST_SCRIPT, 1, keys.latest(hostId, key), jobId, previous ?? "").catch(() => undefined);
        throw err;
      }
      const replaces = previous && previous !== jobId && (await this.isPending(previous)) ? previous : null;
      return { jobId, replaces };
    } catch (err) {
      throw new CodedError("DEPENDENCY_UNAVAILABLE", "The command queue (Redis) is unavailable.", { retryAfter: 2, cause: err });
    }
  }

  /** A host connected here: its parked jobs go now. Resolves with how many were promoted. */
  promotePending(hostId: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.promoteBatch.push({ hostId, resolve, reject });
      if (this.promoteBatch.length >= PROMOTE_BATCH_SIZE) this.flushPromotions();
      else this.promoteTimer ??= setTimeout(() => this.flushPromotions(), PROMOTE_BATCH_MS);
    });
  }

  private flushPromotions(): void {
    if (this.promoteTimer) clearTimeout(this.promoteTimer);
    this.promoteTimer = undefined;
    const batch = this.promoteBatch.splice(0);
    if (batch.length === 0) return;
    const keyList = batch.flatMap(({ hostId }) => [keys.connects(hostId), keys.pending(hostId)]);
    const run = () => this.redis.evalsha(this.onlineScriptSha, keyList.length, ...keyList, CONNECTS_TTL_SECONDS);
    run()
      .catch((err: unknown) => {
        if (!String((err as Error)?.message).includes("NOSCRIPT")) throw err;
        return this.redis.eval(ONLINE_SCRIPT, keyList.length, ...keyList, CONNECTS_TTL_SECONDS);
      })
      .then(
        (result) => {
          const pending = result as string[][];
          batch.forEach(({ hostId, resolve, reject }, i) => {
            const ids = pending[i] ?? [];
            if (ids.length === 0) resolve(0);
            else this.promoteJobs(hostId, ids).then(resolve, reject);
          });
        },
        (err: unknown) => {
          for (const { reject } of batch) reject(err);
        },
      );
  }

  /** Promotes a host's parked jobs, oldest first, and forgets ids whose jobs are gone or finished. */
  private async promoteJobs(hostId: string, ids: string[]): Promise<number> {
    const jobs = (await Promise.all(ids.map((id) => this.queue.getJob(id)))).filter((job): job is Job => !!job);
    jobs.sort((a, b) => a.timestamp - b.timestamp);
    let promoted = 0;
    const gone = ids.filter((id) => !jobs.some((job) => job.id === id));
    for (const job of jobs) {
      const state = await job.getState();
      if (state === "delayed") {
        await job.promote().then(
          () => promoted++,
          () => undefined,
        );
      } else if (state === "completed" || state === "failed" || state === "unknown") {
        gone.push(job.id!);
      }
    }
    if (gone.length > 0) await this.redis.srem(keys.pending(hostId), ...gone);
    return promoted;
  }

  /**
   * The host was deleted: its undelivered commands can never arrive. They are removed (and logged with their
   * ids and types), once across the cluster.
   */
  async discardHost(hostId: string, at: number): Promise<number> {
    const first = await this.redis.set(keys.deleted(hostId, at), "1", "PX", 60_000, "NX");
    if (first !== "OK") return 0;
    const ids = await this.redis.smembers(keys.pending(hostId));
    const removed: { jobId: string; type: string }[] = [];
    for (const id of ids) {
      const job = await this.queue.getJob(id);
      if (!job) continue;
      try {
        await job.remove();
        removed.push({ jobId: id, type: job.name });
      } catch {
        // active right now: the delivery attempt finds no agent and the job expires with a reason
      }
    }
    await this.redis.del(keys.pending(hostId));
    if (removed.length > 0) this.options.logger.warn({ hostId, removed }, "host deleted: discarded its undelivered commands");
    return removed.length;
  }

  /** Starts this replica's worker, delivering through `router`. */
  startWorker(router: Pick<CommandRouter, "send">, connection: Redis): void {
    this.worker = new Worker(QueueNames.agentCommands, (job, token) => this.process(job, token, router), {
      connection,
      concurrency: this.options.concurrency,
      autorun: true,
    });
    this.worker.on("failed", (job, err) => {
      if (!job) return;
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      this.options.logger.warn({ jobId: job.id, type: job.name, attemptsMade: job.attemptsMade, final, err: err.message }, "queued command attempt failed");
      if (final) {
        this.options.metrics.queueJobs.inc({ outcome: "failed" });
        void this.redis.srem(keys.pending((job.data as CommandJobData).hostId), job.id!).catch(() => undefined);
      }
    });
    this.worker.on("error", (err) => this.options.logger.warn({ err: err.message }, "command worker error"));
  }

  /** Stops taking jobs; jobs in flight finish (bounded by `timeoutMs`, then they are left to the stalled-job check). */
  async close(timeoutMs: number): Promise<void> {
    this.flushPromotions();
    if (this.worker) {
      const worker = this.worker;
      this.worker = undefined;
      await Promise.race([worker.close(), new Promise((r) => setTimeout(r, timeoutMs))]);
      await worker.close(true).catch(() => undefined);
    }
    await this.queue.close().catch(() => undefined);
  }

  private async isPending(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    return state === "waiting" || state === "delayed" || state === "prioritized" || state === "active";
  }

  private async process(job: Job, token: string | undefined, router: Pick<CommandRouter, "send">): Promise<object> {
    const parsed = CommandJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid job data: ${parsed.error.issues[0]?.message ?? "unknown"}`);
    const data = parsed.data;
    const done = () => this.redis.srem(keys.pending(data.hostId), job.id!).catch(() => undefined);

    if (data.coalesceKey) {
      const latest = await this.redis.get(keys.latest(data.hostId, data.coalesceKey));
      // Superseded only by a newer job that exists: if its add failed, this one still goes.
      if (latest && latest !== job.id && (await this.queue.getJob(latest))) {
        await done();
        this.options.metrics.queueJobs.inc({ outcome: "superseded" });
        return { status: "superseded", by: latest };
      }
    }
    if (isExpired(data.enqueuedAt, this.options.ttlMs, Date.now())) {
      await done();
      throw new UnrecoverableError(`not delivered within ${Math.round(this.options.ttlMs / 1000)} s: the host stayed offline`);
    }

    const generation = await this.redis.get(keys.connects(data.hostId));
    let decision: JobDecision;
    let outcome: object | undefined;
    try {
      const sent = await router.send({ hostId: data.hostId, commandId: data.commandId }, data.message, {
        awaitAck: true,
        ackTimeoutMs: data.ackTimeoutMs,
      });
      outcome = sent;
      decision = decideAfterSend(sent);
    } catch (err) {
      const error = toCodedError(err);
      decision = decideAfterError(error.code, error.message);
    }

    switch (decision.action) {
      case "complete":
        await done();
        this.options.metrics.queueJobs.inc({ outcome: "delivered" });
        this.options.metrics.commands.inc({ path: "queue", status: (outcome as { status: string }).status });
        return outcome!;
      case "retry":
        throw new Error(decision.reason);
      case "fail":
        await done();
        throw new UnrecoverableError(decision.reason);
      case "wait_online": {
        await job.moveToDelayed(Date.now() + this.options.offlineRecheckMs, token);
        // A reconnect between the attempt and the parking would have found nothing to promote: promote ourselves.
        if ((await this.redis.get(keys.connects(data.hostId))) !== generation) await job.promote().catch(() => undefined);
        this.options.metrics.queueJobs.inc({ outcome: "parked" });
        throw new DelayedError();
      }
    }
  }
}
