import { describe, expect, it } from "vitest";
import {
  AgentToServerMessage,
  CodedError,
  ServerToAgentMessage,
  AuthSubjects,
  closeReason,
  effectivePermissions,
  isIdentifier,
} from "@patchmon-ws/protocol";

describe("identifiers and subjects", () => {
  it("accepts only subject-safe identifiers", () => {
    expect(isIdentifier("patchmon_0a1b")).toBe(true);
    expect(isIdentifier("3f2c9a0e-1d2b-4c5d-9e8f-0a1b2c3d4e5f")).toBe(true);
    for (const bad of ["a.b", "a*", ">", "a b", "", "x".repeat(129), "a\n"]) expect(isIdentifier(bad)).toBe(false);
  });

  it("refuses to build a subject from an unsafe id", () => {
    expect(AuthSubjects.revokedHost("h-1")).toBe("auth.v1.revoked.host.h-1");
    expect(() => AuthSubjects.revokedHost("h.*")).toThrow(/refusing/);
  });
});

describe("agent message catalogue", () => {
  it("parses stock messages and keeps unknown fields", () => {
    const msg = ServerToAgentMessage.parse({ type: "settings_update", update_interval: 60, future_field: 1 });
    expect(msg).toMatchObject({ type: "settings_update", update_interval: 60, future_field: 1 });
    expect(AgentToServerMessage.parse({ type: "ssh_proxy_data", session_id: "abc", data: "hi" }).type).toBe("ssh_proxy_data");
  });

  it("rejects unknown types and invalid fields", () => {
    expect(ServerToAgentMessage.safeParse({ type: "rm_rf" }).success).toBe(false);
    expect(ServerToAgentMessage.safeParse({ type: "set_compliance_mode", mode: "sometimes" }).success).toBe(false);
    expect(ServerToAgentMessage.safeParse({ type: "remediate_rule", rule_id: "x; rm -rf /" }).success).toBe(false);
    expect(AgentToServerMessage.safeParse({ type: "ack" }).success).toBe(false);
  });
});

describe("errors, close reasons, permissions", () => {
  it("round-trips coded errors through JSON bodies, unknown codes becoming INTERNAL", () => {
    const error = new CodedError("RATE_LIMITED", undefined, { retryAfter: 5 });
    expect(error.status).toBe(429);
    expect(error.toBody()).toEqual({ error: "Too many attempts; try again later.", code: "RATE_LIMITED" });
    expect(CodedError.fromBody({ code: "RATE_LIMITED", error: "slow down", retryAfter: 5 })).toMatchObject({ code: "RATE_LIMITED", retryAfter: 5, message: "slow down" });
    expect(CodedError.fromBody({ code: "NOPE" }).code).toBe("INTERNAL");
  });

  it("truncates close reasons to 123 bytes of UTF-8", () => {
    expect(Buffer.byteLength(closeReason("é".repeat(200)))).toBeLessThanOrEqual(123);
    expect(closeReason("short")).toBe("short");
  });

  it("gives admins every permission and users only theirs", () => {
    expect(effectivePermissions("admin", [])).toContain("can_manage_hosts");
    expect(effectivePermissions("user", ["can_view_queues"])).toEqual(["can_view_queues"]);
  });
});
