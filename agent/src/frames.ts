/**
 * Classifies one text frame from the server against the catalogue (ServerToAgentSchemas). Pure: no sockets,
 * no logging; the CommandProcessor decides what to do with each kind.
 */
import { CommandId, ServerToAgentSchemas, type ServerToAgentMessage, type ServerToAgentType } from "@patchmon-ws/protocol";
import type { z } from "zod";

export type ParsedFrame =
  | { kind: "message"; message: ServerToAgentMessage }
  /** Not JSON at all. */
  | { kind: "invalid_json"; error: string }
  /** JSON, but not an object with a string `type`. */
  | { kind: "malformed"; error: string; id?: string }
  /** A `type` this agent does not know (a newer server, or garbage). */
  | { kind: "unknown_type"; type: string; id?: string }
  /** A known type whose fields fail its schema (`sessionId`: its session_id, when that one is valid). */
  | { kind: "invalid"; type: ServerToAgentType; error: string; id?: string; sessionId?: string };

const MAX_ERROR_LENGTH = 300;
/** The catalogue's SshSessionId. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parseServerFrame(text: string): ParsedFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { kind: "invalid_json", error: (error as Error).message };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { kind: "malformed", error: "a frame must be a JSON object" };
  }
  const record = raw as Record<string, unknown>;
  const id = commandIdOf(record.id);
  const withId = <T extends object>(value: T): T & { id?: string } => (id === undefined ? value : { ...value, id });
  if (typeof record.type !== "string" || record.type.length === 0) {
    return withId({ kind: "malformed" as const, error: "a frame must have a string `type`" });
  }
  if (!Object.hasOwn(ServerToAgentSchemas, record.type)) {
    return withId({ kind: "unknown_type" as const, type: record.type.slice(0, 64) });
  }
  const type = record.type as ServerToAgentType;
  const result = ServerToAgentSchemas[type].safeParse(record);
  if (!result.success) {
    const invalid = withId({ kind: "invalid" as const, type, error: summariseIssues(result.error) });
    const sessionId = record.session_id;
    return typeof sessionId === "string" && SESSION_ID.test(sessionId) ? { ...invalid, sessionId } : invalid;
  }
  return { kind: "message", message: result.data as ServerToAgentMessage };
}

function commandIdOf(value: unknown): string | undefined {
  return CommandId.safeParse(value).success ? (value as string) : undefined;
}

function summariseIssues(error: z.ZodError): string {
  const text = error.issues.map((issue) => `${issue.path.join(".") || "(frame)"}: ${issue.message}`).join("; ");
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 3)}...` : text;
}
