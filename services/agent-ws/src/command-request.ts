import { z } from "zod";
import {
  COMMAND_TYPES,
  CodedError,
  CommandId,
  MAX_ACK_TIMEOUT_MS,
  ServerToAgentSchemas,
  type CommandType,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";

/**
 * Options every command request may carry:
 * - ifOffline: "fail" (default) answers 409 when no agent is connected; "queue" keeps the command durably
 *   (202) and delivers it when the agent reconnects; also used when a connected agent did not ack in time.
 * - waitForAck: wait for the agent's ack when it supports acks (default true); stock agents never ack, their
 *   commands count as delivered once written.
 * - ackTimeoutMs: how long to wait for that ack (default ACK_TIMEOUT_MS).
 */
const CommandOptions = {
  ifOffline: z.enum(["fail", "queue"]).default("fail"),
  waitForAck: z.boolean().default(true),
  ackTimeoutMs: z.number().int().min(1).max(MAX_ACK_TIMEOUT_MS).optional(),
};

export const SingleCommandBody = z.object({
  command: z.unknown(),
  /** Idempotency key: re-sending with the same id never runs the command twice on agents that dedupe. */
  commandId: CommandId.optional(),
  ...CommandOptions,
});
export type SingleCommandBody = z.infer<typeof SingleCommandBody>;

export const BulkCommandBody = z.object({
  /** "all" (every host presence knows) or a list of host ids. */
  hostIds: z.unknown(),
  command: z.unknown(),
  ...CommandOptions,
});
export type BulkCommandBody = z.infer<typeof BulkCommandBody>;

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw new CodedError("VALIDATION_FAILED", issuesText(result.error));
  return result.data;
}

/**
 * Validates an operator's command against its catalogue schema. The greeting and the SSH relay messages are not
 * operator commands (terminal-ws sends ssh_proxy* over NATS). Any `id` in the body is dropped: the server assigns
 * command ids.
 */
export function parseOperatorCommand(input: unknown): ServerToAgentMessage {
  const type = (input as { type?: unknown } | null)?.type;
  if (typeof input !== "object" || input === null || typeof type !== "string") {
    throw new CodedError("VALIDATION_FAILED", "command must be an object with a string type");
  }
  if (!(COMMAND_TYPES as readonly string[]).includes(type)) {
    throw new CodedError("VALIDATION_FAILED", `command.type ${JSON.stringify(type.slice(0, 64))} is not an operator command; one of: ${COMMAND_TYPES.join(", ")}`);
  }
  const result = ServerToAgentSchemas[type as CommandType].safeParse(input);
  if (!result.success) throw new CodedError("VALIDATION_FAILED", `command: ${issuesText(result.error)}`);
  const { id: _ignored, ...message } = result.data as ServerToAgentMessage & { id?: string };
  return message as ServerToAgentMessage;
}
