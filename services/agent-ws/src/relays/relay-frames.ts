import { AGENT_MAX_FRAME_BYTES } from "@patchmon-ws/protocol";

/** Bytes a character takes inside a JSON string, UTF-8 encoded (escapes included). */
function jsonCharBytes(code: number): number {
  if (code === 0x22 || code === 0x5c) return 2; // \" \\
  if (code < 0x20) return code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6;
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  // Lone surrogates are escaped by JSON.stringify (\udXXX); paired ones are handled by the caller (4 bytes a pair).
  if (code >= 0xd800 && code <= 0xdfff) return 6;
  return 3;
}

/**
 * The `ssh_proxy_input` frames for one piece of input, each at most `maxFrameBytes` of UTF-8 (a stock agent drops
 * any larger frame, and with it the connection). Input is cut between characters, never inside a surrogate pair, so
 * the agent writes exactly the text typed or pasted.
 */
export function sshProxyInputFrames(sessionId: string, data: string, maxFrameBytes = AGENT_MAX_FRAME_BYTES): string[] {
  const overhead = Buffer.byteLength(JSON.stringify({ type: "ssh_proxy_input", session_id: sessionId, data: "" }), "utf8");
  const budget = maxFrameBytes - overhead;
  if (budget < 6) throw new Error(`a frame of ${maxFrameBytes} bytes cannot carry input`);
  const frames: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < data.length; ) {
    const code = data.charCodeAt(i);
    const next = i + 1 < data.length ? data.charCodeAt(i + 1) : 0;
    const pair = code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
    const width = pair ? 2 : 1;
    const cost = pair ? 4 : jsonCharBytes(code);
    if (bytes + cost > budget) {
      frames.push(JSON.stringify({ type: "ssh_proxy_input", session_id: sessionId, data: data.slice(start, i) }));
      start = i;
      bytes = 0;
    }
    bytes += cost;
    i += width;
  }
  if (start < data.length || frames.length === 0) {
    frames.push(JSON.stringify({ type: "ssh_proxy_input", session_id: sessionId, data: data.slice(start) }));
  }
  return frames;
}
