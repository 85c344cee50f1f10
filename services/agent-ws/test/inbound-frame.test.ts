import { describe, expect, it } from "vitest";
import { classifyInboundFrame } from "../src/connection/inbound-frame.js";

describe("classifyInboundFrame", () => {
  it("accepts every agent→server catalogue message", () => {
    const frames = [
      { type: "docker_status", event: { type: "container_start" }, container_id: "abc", name: "web", status: "running", timestamp: "2026-01-01T00:00:00Z" },
      { type: "compliance_scan_progress", phase: "started", progress: 10 },
      { type: "ssh_proxy_connected", session_id: "s1" },
      { type: "ssh_proxy_data", session_id: "s1", data: "hi" },
      { type: "ssh_proxy_error", session_id: "s1", message: "boom", data: "boom" },
      { type: "ssh_proxy_closed", session_id: "s1" },
      { type: "ack", id: "c1", ok: true },
      { type: "hello", agent_version: "1.2.3", capabilities: ["ack"] },
    ];
    for (const frame of frames) {
      const result = classifyInboundFrame(Buffer.from(JSON.stringify(frame)), false);
      expect(result.ok, JSON.stringify(frame)).toBe(true);
      if (result.ok) expect(result.message.type).toBe(frame.type);
    }
  });

  it("keeps unknown fields (forward compatible)", () => {
    const result = classifyInboundFrame(JSON.stringify({ type: "ssh_proxy_closed", session_id: "s", extra: 1 }), false);
    expect(result.ok && (result.message as Record<string, unknown>).extra).toBe(1);
  });

  it("classifies garbage with a reason", () => {
    expect(classifyInboundFrame(Buffer.from([1, 2, 3]), true)).toEqual({ ok: false, reason: "binary" });
    expect(classifyInboundFrame("{not json", false)).toEqual({ ok: false, reason: "invalid_json" });
    expect(classifyInboundFrame("[1,2]", false)).toEqual({ ok: false, reason: "invalid_json" });
    expect(classifyInboundFrame("42", false)).toEqual({ ok: false, reason: "invalid_json" });
    expect(classifyInboundFrame('{"x":1}', false)).toEqual({ ok: false, reason: "missing_type" });
    expect(classifyInboundFrame('{"type":"rm_rf"}', false)).toEqual({ ok: false, reason: "unknown_type", type: "rm_rf" });
    const invalid = classifyInboundFrame('{"type":"compliance_scan_progress","phase":"x","progress":500}', false);
    expect(invalid.ok).toBe(false);
    if (!invalid.ok) {
      expect(invalid.reason).toBe("invalid_message");
      expect(invalid.detail).toMatch(/progress/);
    }
  });

  it("never returns the body in the classification (logs stay free of agent data)", () => {
    const secret = "hunter2-secret-data";
    const result = classifyInboundFrame(JSON.stringify({ type: "ssh_proxy_data", session_id: "bad id!", data: secret }), false);
    expect(JSON.stringify(result)).not.toContain(secret);
  });
});
