import { AgentToServerSchemas, type AgentToServerMessage, type AgentToServerType } from "@patchmon-ws/protocol";

export const GARBAGE_REASONS = ["binary", "invalid_json", "missing_type", "unknown_type", "invalid_message"] as const;
export type GarbageReason = (typeof GARBAGE_REASONS)[number];

export type InboundFrame =
  | { ok: true; message: AgentToServerMessage }
  | { ok: false; reason: GarbageReason; type?: string; detail?: string };

const KNOWN_TYPES = new Set<string>(Object.keys(AgentToServerSchemas));

/**
 * Classifies one frame from an agent: a valid catalogue message, or garbage with a reason (counted and logged,
 * never echoed). Message bodies never reach a log: only the type and the first schema issue do.
 */
export function classifyInboundFrame(data: Buffer | string, isBinary: boolean): InboundFrame {
  if (isBinary) return { ok: false, reason: "binary" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch {
    return { ok: false, reason: "invalid_json" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { ok: false, reason: "invalid_json" };
  const type = (parsed as { type?: unknown }).type;
  if (typeof type !== "string" || type === "") return { ok: false, reason: "missing_type" };
  if (!KNOWN_TYPES.has(type)) return { ok: false, reason: "unknown_type", type: type.slice(0, 64) };
  const result = AgentToServerSchemas[type as AgentToServerType].safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, reason: "invalid_message", type, detail: issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : undefined };
  }
  return { ok: true, message: result.data as AgentToServerMessage };
}
