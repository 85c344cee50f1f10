import { describe, expect, it } from "vitest";
import type { PresenceRecord } from "@patchmon-ws/protocol";
import { changesSince, DEFAULT_REMOVAL_LOG_LIMIT, RemovalLog, type ResumableState } from "../src/presence/presence-history.js";
import { connectedRecord } from "../src/presence/presence-record.js";
import type { VersionedRecord } from "../src/presence/presence-record.js";

const record = (hostId: string, connected = true): PresenceRecord => ({
  ...connectedRecord({ hostId, apiId: "a", connectionId: "c", replica: "r", since: 1, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 1),
  connected,
});

/** A view's state by hand: current records with their revisions, removals, the revision applied. */
function state(options: { revision: number; records?: [string, number][]; removals?: [string, number][]; ready?: boolean; limit?: number }): ResumableState {
  const records = new Map<string, VersionedRecord>((options.records ?? []).map(([id, revision]) => [id, { record: record(id), revision }]));
  const removals = new RemovalLog(options.limit);
  for (const [id, revision] of options.removals ?? []) removals.add(id, revision);
  return {
    ready: options.ready ?? true,
    revision: options.revision,
    removals,
    confirmed: (id) => records.get(id),
    confirmedValues: () => records.values(),
  };
}

const summary = (result: ReturnType<typeof changesSince>) =>
  result && { from: result.fromRevision, to: result.toRevision, changes: result.changes.map((c) => `${c.record ? "status" : "removed"} ${c.hostId}@${c.revision}`) };

describe("RemovalLog", () => {
  it("keeps the newest removals up to its limit and remembers the highest revision it forgot", () => {
    const log = new RemovalLog(3);
    for (const [id, revision] of [["a", 1], ["b", 2], ["c", 4]] as const) log.add(id, revision);
    expect(log.forgottenUpTo).toBe(0);
    log.add("d", 7);
    expect([...log]).toEqual([["b", 2], ["c", 4], ["d", 7]]);
    expect(log.forgottenUpTo).toBe(1);
    log.add("e", 9);
    log.add("f", 10);
    expect([...log]).toEqual([["d", 7], ["e", 9], ["f", 10]]);
    expect(log.size).toBe(3);
    expect(log.forgottenUpTo).toBe(4);
  });

  it("a host removed again moves to the end; a host that came back leaves without counting as forgotten", () => {
    const log = new RemovalLog(2);
    log.add("a", 1);
    log.add("b", 2);
    log.add("a", 5);
    expect([...log]).toEqual([["b", 2], ["a", 5]]);
    log.restored("b");
    expect([...log]).toEqual([["a", 5]]);
    expect(log.get("b")).toBeUndefined();
    expect(log.forgottenUpTo).toBe(0);
    log.add("c", 6);
    log.add("d", 8);
    expect(log.forgottenUpTo).toBe(5);
    expect(log.get("a")).toBeUndefined();
  });

  it("remembers 10 000 removals by default", () => {
    const log = new RemovalLog();
    expect(DEFAULT_REMOVAL_LOG_LIMIT).toBe(10_000);
    for (let i = 1; i <= 10_001; i++) log.add(`h${i}`, i);
    expect(log.size).toBe(10_000);
    expect(log.forgottenUpTo).toBe(1);
    expect(log.get("h2")).toBe(2);
  });

  it("forgetUpTo only ever raises the mark", () => {
    const log = new RemovalLog(5);
    log.forgetUpTo(10);
    log.forgetUpTo(3);
    expect(log.forgottenUpTo).toBe(10);
  });
});

describe("changesSince", () => {
  const view = state({ revision: 20, records: [["a", 3], ["b", 12], ["c", 18], ["d", 9]], removals: [["x", 5], ["y", 11], ["z", 19]] });

  it("all hosts: every record newer than R and every removal after R, in revision order", () => {
    expect(summary(changesSince(view, 9, null))).toEqual({ from: 9, to: 20, changes: ["removed y@11", "status b@12", "status c@18", "removed z@19"] });
    expect(summary(changesSince(view, 0, null))?.changes).toEqual(["status a@3", "removed x@5", "status d@9", "removed y@11", "status b@12", "status c@18", "removed z@19"]);
  });

  it("a selection: only its hosts (unknown ones are simply not mentioned)", () => {
    expect(summary(changesSince(view, 9, ["c", "y", "a", "x", "never-seen"]))).toEqual({ from: 9, to: 20, changes: ["removed y@11", "status c@18"] });
  });

  it("R at the current revision: resumed with nothing to send", () => {
    expect(summary(changesSince(view, 20, null))).toEqual({ from: 20, to: 20, changes: [] });
  });

  it("falls back (null) when R is newer than anything applied, or the view is still loading", () => {
    expect(changesSince(view, 21, null)).toBeNull();
    expect(changesSince(view, 21, ["a"])).toBeNull();
    expect(changesSince(state({ revision: 20, ready: false }), 20, null)).toBeNull();
  });

  it("falls back (null) when a removal after R may have been forgotten; resumes from the forgotten mark on", () => {
    const bounded = state({ revision: 20, records: [["a", 3]], removals: [["x", 5], ["y", 11], ["z", 19]], limit: 2 });
    expect(bounded.removals.forgottenUpTo).toBe(5);
    expect(changesSince(bounded, 4, null)).toBeNull();
    // Even for a selection that never held the forgotten host: the view cannot tell which host it was.
    expect(changesSince(bounded, 4, ["a"])).toBeNull();
    expect(summary(changesSince(bounded, 5, null))?.changes).toEqual(["removed y@11", "removed z@19"]);
  });
});
