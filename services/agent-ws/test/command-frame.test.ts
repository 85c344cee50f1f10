import { describe, expect, it } from "vitest";
import { AGENT_MAX_FRAME_BYTES, CodedError } from "@patchmon-ws/protocol";
import { encodeAgentFrame, encodeCommandFrame, GREETING_FRAME } from "../src/commands/command-frame.js";

describe("encodeCommandFrame", () => {
  it("adds the command id", () => {
    expect(JSON.parse(encodeCommandFrame({ type: "settings_update", update_interval: 60 }, "c1"))).toEqual({ type: "settings_update", update_interval: 60, id: "c1" });
  });

  it("refuses frames a stock agent would drop (> 64 KiB) with PAYLOAD_TOO_LARGE", () => {
    const big = { type: "update_notification" as const, version: "1", force: false, message: "x".repeat(1000), downloadUrl: "y".repeat(AGENT_MAX_FRAME_BYTES) };
    let error: CodedError | undefined;
    try {
      encodeCommandFrame(big, "c1");
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error?.status).toBe(413);
    expect(error?.message).toContain(String(AGENT_MAX_FRAME_BYTES));
  });

  it("counts bytes, not characters", () => {
    const nearLimit = AGENT_MAX_FRAME_BYTES - 200;
    const ascii = { type: "ssh_proxy_input" as const, session_id: "s", data: "a".repeat(nearLimit) };
    expect(() => encodeCommandFrame(ascii, "c1")).not.toThrow();
    const multibyte = { type: "ssh_proxy_input" as const, session_id: "s", data: "é".repeat(nearLimit) };
    expect(() => encodeCommandFrame(multibyte, "c1")).toThrow(CodedError);
  });
});

describe("encodeAgentFrame", () => {
  it("writes a catalogue message as it is, and accepts only the fields its type declares (a misspelt one fails the typecheck)", () => {
    expect(JSON.parse(GREETING_FRAME)).toEqual({ type: "connected" });
    expect(JSON.parse(encodeAgentFrame({ type: "ssh_proxy_resize", session_id: "s", cols: 80, rows: 24 }))).toEqual({ type: "ssh_proxy_resize", session_id: "s", cols: 80, rows: 24 });
    // @ts-expect-error session_id misspelt
    encodeAgentFrame({ type: "ssh_proxy_disconnect", sesion_id: "s" });
    // @ts-expect-error rows missing
    encodeAgentFrame({ type: "ssh_proxy_resize", session_id: "s", cols: 80 });
  });
});
