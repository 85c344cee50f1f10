import { AGENT_MAX_FRAME_BYTES, splitUtf8 } from "@patchmon-ws/protocol";
import { encodeAgentFrame } from "../commands/command-frame.js";

/**
 * The `ssh_proxy_input` frames for one piece of input, each at most `maxFrameBytes` of UTF-8 (a stock agent drops
 * any larger frame, and with it the connection). Input is cut between characters, never inside a surrogate pair, so
 * the agent writes exactly the text typed or pasted.
 */
export function sshProxyInputFrames(sessionId: string, data: string, maxFrameBytes = AGENT_MAX_FRAME_BYTES): string[] {
  const frame = (piece: string) => encodeAgentFrame({ type: "ssh_proxy_input", session_id: sessionId, data: piece });
  const budget = maxFrameBytes - Buffer.byteLength(frame(""), "utf8");
  if (budget < 6) throw new Error(`a frame of ${maxFrameBytes} bytes cannot carry input`);
  const pieces = splitUtf8(data, budget, "json");
  return (pieces.length > 0 ? pieces : [""]).map(frame);
}
