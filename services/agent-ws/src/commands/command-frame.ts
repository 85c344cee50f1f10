import { AGENT_MAX_FRAME_BYTES, CodedError, type ServerToAgentFrame, type ServerToAgentMessage } from "@patchmon-ws/protocol";

/** One text frame to an agent: a catalogue message with its declared fields (a misspelt one fails the typecheck). */
export function encodeAgentFrame(message: ServerToAgentFrame): string {
  return JSON.stringify(message);
}

/**
 * The text frame for a command: the catalogue message with its command id. A stock agent's read limit is
 * 64 KiB and it drops the connection on a larger frame, so such a command is refused here instead of sent.
 */
export function encodeCommandFrame(message: ServerToAgentMessage, commandId: string): string {
  const frame = encodeAgentFrame({ ...message, id: commandId });
  const bytes = Buffer.byteLength(frame, "utf8");
  if (bytes > AGENT_MAX_FRAME_BYTES) {
    throw new CodedError(
      "PAYLOAD_TOO_LARGE",
      `The ${message.type} command encodes to ${bytes} bytes; agents drop frames over ${AGENT_MAX_FRAME_BYTES} bytes.`,
    );
  }
  return frame;
}

/** Longest command id (CommandId allows 64 characters). */
const LONGEST_COMMAND_ID = "x".repeat(64);

/** Refuses, before it is sent or queued, a command whose frame could exceed an agent's read limit. */
export function assertFrameFits(message: ServerToAgentMessage): void {
  encodeCommandFrame(message, LONGEST_COMMAND_ID);
}

/** The greeting PatchMon sends after the upgrade; stock agents ignore it. */
export const GREETING_FRAME = encodeAgentFrame({ type: "connected" });
