import { describe, expect, it } from "vitest";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import {
  connectedRecord,
  describesConnection,
  disconnectedRecord,
  isNewerConnection,
  mayWriteConnect,
  orphanedRecords,
  type ConnectionFacts,
} from "../src/presence/presence-record.js";

const facts = (over: Partial<ConnectionFacts> = {}): ConnectionFacts => ({
  hostId: "h1",
  apiId: "api1",
  connectionId: "c1",
  replica: "r1",
  since: 1000,
  secure: true,
  remoteAddress: "10.0.0.1",
  agentVersion: null,
  capabilities: [],
  ...over,
});

describe("presence records", () => {
  it("a connected record keeps the previous last disconnect", () => {
    const first = connectedRecord(facts(), null, 1000);
    expect(first).toMatchObject({ connected: true, replica: "r1", connectionId: "c1", since: 1000, secure: true, lastDisconnect: null });
    const gone = disconnectedRecord(first, { code: 1006, reason: "heartbeat_timeout", replica: "r1" }, 2000);
    const again = connectedRecord(facts({ connectionId: "c2", since: 3000 }), gone, 3000);
    expect(again.lastDisconnect).toEqual({ at: 2000, code: 1006, reason: "heartbeat_timeout", replica: "r1" });
  });

  it("a disconnected record clears the live fields and keeps last-known transport facts", () => {
    const live = connectedRecord(facts({ agentVersion: "1.0" }), null, 1000);
    const gone = disconnectedRecord(live, { code: 1000, reason: "agent_closed", replica: "r1" }, 5000);
    expect(gone).toMatchObject({ connected: false, replica: null, connectionId: null, since: null, secure: true, remoteAddress: "10.0.0.1", agentVersion: "1.0", updatedAt: 5000 });
  });

  it("orders connections by accept time, then connection id", () => {
    expect(isNewerConnection({ since: 2, connectionId: "a" }, { since: 1, connectionId: "z" })).toBe(true);
    expect(isNewerConnection({ since: 1, connectionId: "b" }, { since: 1, connectionId: "a" })).toBe(true);
    expect(isNewerConnection({ since: 1, connectionId: "a" }, { since: 1, connectionId: "b" })).toBe(false);
    expect(isNewerConnection({ since: 1, connectionId: "a" }, { since: 1, connectionId: "a" })).toBe(false);
  });

  it("a late connect write never overwrites a newer live connection", () => {
    const newer = connectedRecord(facts({ connectionId: "c2", since: 2000 }), null, 2000);
    expect(mayWriteConnect(newer, { since: 1000, connectionId: "c1" })).toBe(false);
    expect(mayWriteConnect(newer, { since: 3000, connectionId: "c3" })).toBe(true);
    expect(mayWriteConnect(null, { since: 1, connectionId: "c" })).toBe(true);
    const offline = disconnectedRecord(newer, { code: 1000, reason: "agent_closed", replica: "r1" }, 2500);
    expect(mayWriteConnect(offline, { since: 1000, connectionId: "c1" })).toBe(true);
  });

  it("only the described connection may change a record", () => {
    const live = connectedRecord(facts(), null, 1000);
    expect(describesConnection(live, "c1")).toBe(true);
    expect(describesConnection(live, "c2")).toBe(false);
    expect(describesConnection(null, "c1")).toBe(false);
    expect(describesConnection(disconnectedRecord(live, { code: 1000, reason: "agent_closed", replica: "r1" }, 1), "c1")).toBe(false);
  });

  it("finds records of dead replicas; own records only at start-up", () => {
    const records: PresenceRecord[] = [
      connectedRecord(facts({ hostId: "a", replica: "live" }), null, 1),
      connectedRecord(facts({ hostId: "b", replica: "dead" }), null, 1),
      connectedRecord(facts({ hostId: "c", replica: "me" }), null, 1),
      disconnectedRecord(connectedRecord(facts({ hostId: "d", replica: "dead" }), null, 1), { code: 1000, reason: "agent_closed", replica: "dead" }, 2),
    ];
    const live = new Set(["live", "me"]);
    expect(orphanedRecords(records, live, "me").map((r) => r.hostId)).toEqual(["b"]);
    expect(orphanedRecords(records, live, "me", true).map((r) => r.hostId)).toEqual(["b", "c"]);
  });
});
