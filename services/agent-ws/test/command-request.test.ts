import { describe, expect, it } from "vitest";
import { CodedError, COMMAND_TYPES } from "@patchmon-ws/protocol";
import { BulkCommandRequest, SingleCommandRequest } from "@patchmon-ws/protocol";
import { parseBody, parseOperatorCommand } from "../src/commands/command-request.js";

function error(fn: () => unknown): CodedError | undefined {
  try {
    fn();
  } catch (err) {
    return err as CodedError;
  }
  return undefined;
}

describe("parseOperatorCommand", () => {
  it("validates each command against its catalogue schema and applies defaults", () => {
    expect(parseOperatorCommand({ type: "report_now" })).toEqual({ type: "report_now" });
    expect(parseOperatorCommand({ type: "update_notification", version: "1.5.0" })).toEqual({ type: "update_notification", version: "1.5.0", force: false });
    expect(error(() => parseOperatorCommand({ type: "settings_update", update_interval: -1 }))?.code).toBe("VALIDATION_FAILED");
    expect(error(() => parseOperatorCommand({ type: "set_compliance_mode", mode: "sometimes" }))?.message).toMatch(/mode/);
    expect(error(() => parseOperatorCommand({ type: "remediate_rule", rule_id: "; rm -rf /" }))?.code).toBe("VALIDATION_FAILED");
  });

  it("drops a client-chosen id (the server assigns command ids)", () => {
    expect(parseOperatorCommand({ type: "report_now", id: "mine" })).toEqual({ type: "report_now" });
  });

  it("refuses the greeting, SSH relay messages and unknown types", () => {
    for (const type of ["connected", "ssh_proxy", "ssh_proxy_input", "rm_rf"]) {
      const err = error(() => parseOperatorCommand({ type, session_id: "s", data: "x" }));
      expect(err?.code, type).toBe("VALIDATION_FAILED");
      expect(err?.status).toBe(400);
    }
    expect(error(() => parseOperatorCommand("report_now"))?.code).toBe("VALIDATION_FAILED");
    expect(error(() => parseOperatorCommand(null))?.code).toBe("VALIDATION_FAILED");
  });

  it("accepts every operator command type", () => {
    const samples: Record<string, object> = {
      settings_update: { update_interval: 60 },
      update_notification: { version: "1" },
      integration_toggle: { integration: "docker", enabled: true },
      set_compliance_mode: { mode: "enabled" },
      set_compliance_on_demand_only: { on_demand_only: true },
      remediate_rule: { rule_id: "xccdf_rule_1" },
    };
    for (const type of COMMAND_TYPES) expect(parseOperatorCommand({ type, ...samples[type] }).type).toBe(type);
  });
});

describe("request bodies", () => {
  it("defaults: fail when offline, wait for acks", () => {
    expect(parseBody(SingleCommandRequest, { command: { type: "report_now" } })).toMatchObject({ ifOffline: "fail", waitForAck: true });
  });

  it("refuses bad options", () => {
    expect(error(() => parseBody(SingleCommandRequest, { command: {}, ifOffline: "maybe" }))?.code).toBe("VALIDATION_FAILED");
    expect(error(() => parseBody(SingleCommandRequest, { command: {}, ackTimeoutMs: 10 ** 9 }))?.code).toBe("VALIDATION_FAILED");
    expect(error(() => parseBody(SingleCommandRequest, { command: {}, commandId: "bad id" }))?.code).toBe("VALIDATION_FAILED");
    expect(error(() => parseBody(BulkCommandRequest, { command: {}, waitForAck: "yes" }))?.code).toBe("VALIDATION_FAILED");
  });
});
