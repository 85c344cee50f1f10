import { describe, expect, it } from "vitest";
import { AGENT_MAX_FRAME_BYTES } from "@patchmon-ws/protocol";
import { sshProxyInputFrames } from "../src/relays/relay-frames.js";

const rejoin = (frames: string[]) => frames.map((f) => (JSON.parse(f) as { data: string }).data).join("");
const sizes = (frames: string[]) => frames.map((f) => Buffer.byteLength(f, "utf8"));

describe("ssh_proxy_input frames", () => {
  it("keep a keystroke in one frame", () => {
    const frames = sshProxyInputFrames("s1", "l");
    expect(frames).toEqual([JSON.stringify({ type: "ssh_proxy_input", session_id: "s1", data: "l" })]);
  });

  it("split a paste so that no frame exceeds the agent's 64 KiB read limit, and lose nothing", () => {
    const pastes = [
      "a".repeat(200_000),
      "é€😀".repeat(40_000), // 2-, 3- and 4-byte characters (the emoji is a surrogate pair)
      "\u0001\u001f\"\\".repeat(30_000), // escapes: 6, 6, 2 and 2 bytes each in JSON
      "x".repeat(65_480) + "😀".repeat(10),
    ];
    for (const paste of pastes) {
      const frames = sshProxyInputFrames("session-42", paste);
      expect(frames.length).toBeGreaterThan(1);
      expect(Math.max(...sizes(frames))).toBeLessThanOrEqual(AGENT_MAX_FRAME_BYTES);
      expect(rejoin(frames)).toBe(paste);
    }
  });

  it("never cut inside a surrogate pair", () => {
    const paste = "😀".repeat(5000);
    const frames = sshProxyInputFrames("s", paste, 1024);
    for (const frame of frames) {
      const data = (JSON.parse(frame) as { data: string }).data;
      expect(data.length % 2).toBe(0);
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(1024);
    }
    expect(rejoin(frames)).toBe(paste);
  });

  it("send empty input as one frame, and refuse a frame limit too small to carry anything", () => {
    expect(sshProxyInputFrames("s", "")).toHaveLength(1);
    expect(() => sshProxyInputFrames("s", "x", 40)).toThrow(/cannot carry input/);
  });
});
