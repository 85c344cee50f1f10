import type { AgentToServerMessage, ServerToAgentMessage } from "@patchmon-ws/protocol";
import { describe, expect, it } from "vitest";
import { CommandProcessor } from "../src/command-processor.js";
import { parseServerFrame } from "../src/frames.js";
import { RecentCommandIds } from "../src/recent-ids.js";

function harness(execute: (m: ServerToAgentMessage) => void = () => {}) {
  const executed: ServerToAgentMessage[] = [];
  const duplicates: ServerToAgentMessage[] = [];
  const replies: AgentToServerMessage[] = [];
  const logs: { level: string; args: unknown[] }[] = [];
  const log = {
    info: (...args: unknown[]) => logs.push({ level: "info", args }),
    warn: (...args: unknown[]) => logs.push({ level: "warn", args }),
    error: (...args: unknown[]) => logs.push({ level: "error", args }),
    debug: (...args: unknown[]) => logs.push({ level: "debug", args }),
  };
  const processor = new CommandProcessor(
    {
      execute: (m) => {
        executed.push(m);
        execute(m);
      },
      duplicate: (m) => duplicates.push(m),
      reply: (m) => replies.push(m),
    },
    log,
    new RecentCommandIds(4),
  );
  return { processor, executed, duplicates, replies, logs };
}

describe("parseServerFrame", () => {
  it("classifies every kind of frame", () => {
    expect(parseServerFrame("{nope").kind).toBe("invalid_json");
    expect(parseServerFrame("[1,2]")).toMatchObject({ kind: "malformed" });
    expect(parseServerFrame('"report_now"')).toMatchObject({ kind: "malformed" });
    expect(parseServerFrame('{"id":"c1"}')).toEqual({ kind: "malformed", error: "a frame must have a string `type`", id: "c1" });
    expect(parseServerFrame('{"type":"format_disk","id":"c2"}')).toEqual({ kind: "unknown_type", type: "format_disk", id: "c2" });
    expect(parseServerFrame('{"type":"toString"}')).toMatchObject({ kind: "unknown_type" });
    expect(parseServerFrame('{"type":"settings_update","update_interval":"soon","id":"c3"}')).toMatchObject({ kind: "invalid", type: "settings_update", id: "c3" });
    expect(parseServerFrame('{"type":"report_now","id":"bad id with spaces"}')).toMatchObject({ kind: "invalid", type: "report_now" });
    expect(parseServerFrame('{"type":"report_now","id":"c4","extra":1}')).toEqual({ kind: "message", message: { type: "report_now", id: "c4", extra: 1 } });
  });

  it("accepts every server→agent type of the catalogue with valid fields", () => {
    const valid: Record<string, object> = {
      connected: {},
      settings_update: { update_interval: 60 },
      report_now: {},
      update_agent: {},
      refresh_integration_status: {},
      docker_inventory_refresh: {},
      update_notification: { version: "1.4.3", force: false },
      integration_toggle: { integration: "docker", enabled: true },
      set_compliance_mode: { mode: "on-demand" },
      set_compliance_on_demand_only: { on_demand_only: true },
      compliance_scan: { profile_type: "openscap", profile_id: "xccdf_org.ssgproject.content_profile_cis" },
      compliance_scan_cancel: {},
      upgrade_ssg: {},
      install_scanner: {},
      remediate_rule: { rule_id: "xccdf_rule_1" },
      docker_image_scan: { image_name: "nginx:1.27", scan_all_images: false },
      ssh_proxy: { session_id: "s1", host: "127.0.0.1", port: 22, username: "root" },
      ssh_proxy_input: { session_id: "s1", data: "ls\n" },
      ssh_proxy_resize: { session_id: "s1", cols: 120, rows: 40 },
      ssh_proxy_disconnect: { session_id: "s1" },
    };
    for (const [type, fields] of Object.entries(valid)) {
      expect(parseServerFrame(JSON.stringify({ type, ...fields })).kind, type).toBe("message");
    }
  });
});

describe("CommandProcessor", () => {
  it("executes a command once and acks it when it carries an id", () => {
    const h = harness();
    h.processor.process('{"type":"report_now","id":"cmd-1"}');
    expect(h.executed).toEqual([{ type: "report_now", id: "cmd-1" }]);
    expect(h.replies).toEqual([{ type: "ack", id: "cmd-1", ok: true }]);
  });

  it("executes commands without an id (stock servers) and sends no ack", () => {
    const h = harness();
    h.processor.process('{"type":"report_now"}');
    h.processor.process('{"type":"report_now"}');
    expect(h.executed).toHaveLength(2);
    expect(h.replies).toEqual([]);
  });

  it("dedupes: a redelivered id is acked again with the first outcome but not executed", () => {
    const h = harness((m) => {
      if (m.type === "update_agent") throw new Error("self-update unavailable");
    });
    h.processor.process('{"type":"report_now","id":"a"}');
    h.processor.process('{"type":"update_agent","id":"b"}');
    h.processor.process('{"type":"report_now","id":"a"}');
    h.processor.process('{"type":"update_agent","id":"b"}');
    expect(h.executed.map((m) => m.id)).toEqual(["a", "b"]);
    expect(h.duplicates.map((m) => m.id)).toEqual(["a", "b"]);
    expect(h.replies).toEqual([
      { type: "ack", id: "a", ok: true },
      { type: "ack", id: "b", ok: false, error: "self-update unavailable" },
      { type: "ack", id: "a", ok: true },
      { type: "ack", id: "b", ok: false, error: "self-update unavailable" },
    ]);
  });

  it("forgets ids beyond its capacity (then executes them again)", () => {
    const h = harness();
    for (const id of ["a", "b", "c", "d", "e"]) h.processor.process(JSON.stringify({ type: "report_now", id }));
    h.processor.process('{"type":"report_now","id":"a"}');
    h.processor.process('{"type":"report_now","id":"e"}');
    expect(h.executed.map((m) => m.id)).toEqual(["a", "b", "c", "d", "e", "a"]);
    expect(h.duplicates.map((m) => m.id)).toEqual(["e"]);
  });

  it("acks an invalid or unknown command with ok:false (when it has an id) and executes nothing", () => {
    const h = harness();
    h.processor.process('{"type":"settings_update","update_interval":-1,"id":"x1"}');
    h.processor.process('{"type":"format_disk","id":"x2"}');
    h.processor.process('{"id":"x3"}');
    h.processor.process('{"type":"format_disk"}');
    h.processor.process("not json");
    expect(h.executed).toEqual([]);
    expect(h.replies).toHaveLength(3);
    expect(h.replies[0]).toMatchObject({ type: "ack", id: "x1", ok: false, error: expect.stringMatching(/^invalid settings_update: update_interval/) });
    expect(h.replies[1]).toEqual({ type: "ack", id: "x2", ok: false, error: 'unsupported message type "format_disk"' });
    expect(h.replies[2]).toMatchObject({ type: "ack", id: "x3", ok: false, error: expect.stringMatching(/^malformed frame/) });
    expect(h.logs.filter((l) => l.level === "warn")).toHaveLength(5);
  });

  it("tells the sink about an invalid command, with its session_id when that one is valid", () => {
    const invalid: unknown[] = [];
    const replies: AgentToServerMessage[] = [];
    const processor = new CommandProcessor(
      { execute: () => {}, duplicate: () => {}, reply: (m) => replies.push(m), invalid: (frame) => invalid.push(frame) },
      { info: () => {}, warn: () => {}, error: () => {} },
    );
    processor.process(JSON.stringify({ type: "ssh_proxy", id: "a", session_id: "s1", host: "h", port: 0, username: "u" }));
    processor.process(JSON.stringify({ type: "ssh_proxy", session_id: "bad id!", host: "h", port: 22, username: "u" }));
    processor.process(JSON.stringify({ type: "settings_update", update_interval: 0 }));
    expect(invalid).toEqual([
      { type: "ssh_proxy", sessionId: "s1", error: expect.stringMatching(/^port:/) },
      { type: "ssh_proxy", error: expect.stringMatching(/^session_id:/) },
      { type: "settings_update", error: expect.stringMatching(/^update_interval:/) },
    ]);
    expect(replies).toEqual([{ type: "ack", id: "a", ok: false, error: expect.stringMatching(/^invalid ssh_proxy: port:/) }]);
  });

  it("treats the connected greeting as no command", () => {
    const h = harness();
    h.processor.process('{"type":"connected"}');
    expect(h.executed).toEqual([]);
    expect(h.replies).toEqual([]);
  });

  it("never logs command payloads (ssh_proxy carries credentials)", () => {
    const h = harness();
    h.processor.process(JSON.stringify({ type: "ssh_proxy", id: "s", session_id: "s1", host: "h", port: 22, username: "u", password: "hunter2", private_key: "-----BEGIN" }));
    expect(JSON.stringify(h.logs)).not.toMatch(/hunter2|BEGIN/);
  });
});
