import { randomUUID } from "node:crypto";
import {
  CodedError,
  ErrorCatalogue,
  isCodedError,
  type AgentOfflineReply,
  type BulkCommandReply,
  type BulkCommandResult,
  type CommandReply,
  type LastDisconnect,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";
import type { DeliveryOptions } from "../connection/agent-gateway.js";
import { assertFrameFits } from "./command-frame.js";
import type { SendOutcome } from "./delivery-plan.js";
import { mapLimit } from "./concurrency.js";
import type { Target } from "./delivery-plan.js";
import type { HostSelection } from "../http/host-selection.js";

export interface CommandPorts {
  send(target: Target, message: ServerToAgentMessage, options: DeliveryOptions): Promise<SendOutcome>;
  sendMany(targets: readonly Target[], message: ServerToAgentMessage, options: DeliveryOptions): Promise<SendOutcome[]>;
  enqueue(hostId: string, commandId: string, message: ServerToAgentMessage, options: { ackTimeoutMs: number; requestedBy: string | null }): Promise<{ jobId: string; replaces: string | null }>;
  /** Throws HOST_NOT_FOUND when the host does not exist. */
  hostExists(hostId: string): Promise<void>;
  /** Every host presence knows (the meaning of "all"). */
  knownHosts(): string[];
  lastDisconnect(hostId: string): LastDisconnect | null;
  observe(status: string, seconds: number): void;
}

export interface CommandRequestOptions {
  ifOffline: "fail" | "queue";
  waitForAck: boolean;
  ackTimeoutMs: number;
  commandId?: string;
  requestedBy: string | null;
}

export interface CommandResponse {
  httpStatus: number;
  body: CommandReply | AgentOfflineReply | BulkCommandReply;
}

/** Hosts checked against the registry at once during a bulk send. */
const LOOKUP_CONCURRENCY = 32;

/**
 * The command API's decisions, without HTTP: deliver now through the router; for a host without a live agent
 * answer "offline" (409) or queue the command durably (202), as the caller chose; queue too when a connected
 * agent did not ack in time or its replica could not be reached, if the caller allowed queueing (the same command
 * id makes redelivery safe). Nothing is dropped without the caller being told.
 */
export class CommandDispatcher {
  constructor(private readonly ports: CommandPorts) {}

  async sendOne(hostId: string, message: ServerToAgentMessage, options: CommandRequestOptions): Promise<CommandResponse> {
    assertFrameFits(message);
    const commandId = options.commandId ?? randomUUID();
    const target = { hostId, commandId };
    const delivery = { awaitAck: options.waitForAck, ackTimeoutMs: options.ackTimeoutMs };
    const started = process.hrtime.bigint();
    let outcome: SendOutcome;
    try {
      outcome = await this.ports.send(target, message, delivery);
    } catch (err) {
      if (options.ifOffline === "queue" && isCodedError(err) && err.code === "DEPENDENCY_UNAVAILABLE") {
        return { httpStatus: 202, body: await this.queue(target, message, options, "the replica holding the agent did not answer") };
      }
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.ports.observe(outcome.status, seconds);
    switch (outcome.status) {
      case "offline":
        await this.ports.hostExists(hostId);
        if (options.ifOffline === "queue") {
          return { httpStatus: 202, body: await this.queue(target, message, options, "the agent is offline") };
        }
        return {
          httpStatus: ErrorCatalogue.AGENT_OFFLINE.status,
          body: {
            error: "The host's agent is not connected; send with ifOffline \"queue\" to deliver it on reconnect.",
            code: "AGENT_OFFLINE",
            ...target,
            status: "offline",
            lastDisconnect: this.ports.lastDisconnect(hostId),
          },
        };
      case "delivered":
        if (outcome.ackTimedOut && options.ifOffline === "queue") {
          return { httpStatus: 202, body: await this.queue(target, message, options, "the agent did not acknowledge in time") };
        }
        return { httpStatus: 200, body: { ...outcome, latencyMs: Math.round(seconds * 1e6) / 1e3 } };
      case "failed":
        throw CodedError.fromBody({ code: outcome.code, error: outcome.error });
      default:
        return { httpStatus: 200, body: { ...outcome, latencyMs: Math.round(seconds * 1e6) / 1e3 } };
    }
  }

  async sendMany(selection: HostSelection, message: ServerToAgentMessage, options: CommandRequestOptions): Promise<CommandResponse> {
    assertFrameFits(message);
    const hostIds = selection.all ? this.ports.knownHosts() : selection.ids;
    const targets = hostIds.map((hostId) => ({ hostId, commandId: randomUUID() }));
    const delivery = { awaitAck: options.waitForAck, ackTimeoutMs: options.ackTimeoutMs };
    const started = process.hrtime.bigint();
    const outcomes = targets.length > 0 ? await this.ports.sendMany(targets, message, delivery) : [];
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;

    const results: BulkCommandResult[] = await mapLimit(outcomes, LOOKUP_CONCURRENCY, async (outcome, index): Promise<BulkCommandResult> => {
      const target = targets[index]!;
      const retriable =
        outcome.status === "offline" ||
        (outcome.status === "delivered" && outcome.ackTimedOut === true) ||
        (outcome.status === "failed" && outcome.code === "DEPENDENCY_UNAVAILABLE");
      if (!retriable) return outcome;
      if (outcome.status === "offline" && !selection.all) {
        try {
          await this.ports.hostExists(target.hostId);
        } catch (err) {
          if (isCodedError(err) && err.code === "HOST_NOT_FOUND") return { ...target, status: "not_found" };
          if (options.ifOffline !== "queue") return outcome;
          throw err;
        }
      }
      if (options.ifOffline !== "queue") return outcome;
      const reason = outcome.status === "offline" ? "the agent is offline" : outcome.status === "delivered" ? "the agent did not acknowledge in time" : "the replica holding the agent did not answer";
      try {
        return await this.queue(target, message, options, reason);
      } catch (err) {
        const error = isCodedError(err) ? err : new CodedError("INTERNAL");
        return { ...target, status: "failed", code: error.code, error: error.message };
      }
    });

    const summary: Record<string, number> = {};
    for (const result of results) summary[result.status] = (summary[result.status] ?? 0) + 1;
    this.ports.observe("bulk", seconds);
    return {
      httpStatus: 200,
      body: { type: message.type, total: results.length, elapsedMs: Math.round(seconds * 1e6) / 1e3, summary, results },
    };
  }

  private async queue(target: Target, message: ServerToAgentMessage, options: CommandRequestOptions, reason: string) {
    const { jobId, replaces } = await this.ports.enqueue(target.hostId, target.commandId, message, {
      ackTimeoutMs: options.ackTimeoutMs,
      requestedBy: options.requestedBy,
    });
    return { ...target, status: "queued" as const, jobId, replaces, reason };
  }
}
