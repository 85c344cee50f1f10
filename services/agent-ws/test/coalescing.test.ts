import { describe, expect, it } from "vitest";
import { COMMAND_TYPES, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import { coalesceKey } from "../src/commands/coalescing.js";

describe("coalesceKey", () => {
  it("coalesces idempotent triggers by type", () => {
    expect(coalesceKey({ type: "report_now" })).toBe("report_now");
    expect(coalesceKey({ type: "refresh_integration_status" })).toBe("refresh_integration_status");
    expect(coalesceKey({ type: "docker_inventory_refresh" })).toBe("docker_inventory_refresh");
    expect(coalesceKey({ type: "settings_update", update_interval: 5 })).toBe("settings_update");
  });

  it("coalesces state setters by the state they set", () => {
    expect(coalesceKey({ type: "integration_toggle", integration: "docker", enabled: true })).toBe("integration_toggle-docker");
    expect(coalesceKey({ type: "integration_toggle", integration: "compliance", enabled: false })).toBe("integration_toggle-compliance");
    expect(coalesceKey({ type: "set_compliance_mode", mode: "enabled" })).toBe("compliance_mode");
    expect(coalesceKey({ type: "set_compliance_on_demand_only", on_demand_only: true })).toBe("compliance_mode");
  });

  it("delivers one-off actions each time", () => {
    for (const type of ["update_agent", "compliance_scan_cancel", "upgrade_ssg", "install_scanner"] as const) {
      expect(coalesceKey({ type } as ServerToAgentMessage)).toBeNull();
    }
    expect(coalesceKey({ type: "remediate_rule", rule_id: "r1" })).toBeNull();
    expect(coalesceKey({ type: "compliance_scan", profile_type: "all" })).toBeNull();
  });

  it("keys fit a Redis key segment and a 64-character job field", () => {
    for (const type of COMMAND_TYPES) {
      const key = coalesceKey({ type, integration: "compliance", update_interval: 1, mode: "enabled", on_demand_only: true, enabled: true, rule_id: "x", version: "1" } as unknown as ServerToAgentMessage);
      if (key) expect(key).toMatch(/^[a-z_-]{1,64}$/);
    }
  });
});
