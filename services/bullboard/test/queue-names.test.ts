import { describe, expect, it } from "vitest";
import { declaredQueues, discoveryPattern, isQueueName, queueNameFromKey } from "../src/queue-names.js";

describe("queue names", () => {
  it("accepts BullMQ-style names and refuses separators, globs and junk", () => {
    for (const ok of ["agent-commands", "compliance", "a.b_c-1", "{tagged}", "Q1"]) expect(isQueueName(ok)).toBe(true);
    for (const bad of ["", "a:b", "a b", "a*", "-lead", "<script>", "x".repeat(129), "é"]) expect(isQueueName(bad)).toBe(false);
  });

  it("finds queue names in meta and id keys only", () => {
    expect(queueNameFromKey("bull", "bull:agent-commands:meta")).toBe("agent-commands");
    expect(queueNameFromKey("bull", "bull:agent-commands:id")).toBe("agent-commands");
    expect(queueNameFromKey("bull", "bull:q:idempotent")).toBeUndefined();
    expect(queueNameFromKey("bull", "bull:q:123")).toBeUndefined();
    expect(queueNameFromKey("bull", "bull:q:me")).toBeUndefined();
    expect(queueNameFromKey("bull", "bull:q:123:logs")).toBeUndefined();
    expect(queueNameFromKey("bull", "bull:q:x:meta")).toBeUndefined();
    expect(queueNameFromKey("bull", "other:q:meta")).toBeUndefined();
    expect(queueNameFromKey("bull", "bull::meta")).toBeUndefined();
    expect(queueNameFromKey("bull", "bullx:q:meta")).toBeUndefined();
  });

  it("builds a SCAN pattern for a safe prefix and refuses glob characters", () => {
    expect(discoveryPattern("bull")).toBe("bull:*:[mi][ed]*");
    expect(() => discoveryPattern("bu*ll")).toThrow();
    expect(() => discoveryPattern("")).toThrow();
  });

  it("merges declared lists without duplicates, in order", () => {
    expect(declaredQueues(["a", "b"], ["b", "c"])).toEqual(["a", "b", "c"]);
  });
});
