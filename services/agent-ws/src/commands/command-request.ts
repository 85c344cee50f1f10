import { z } from "zod";
import {
  COMMAND_TYPES,
  CodedError,
  ServerToAgentSchemas,
  type CommandType,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";


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
