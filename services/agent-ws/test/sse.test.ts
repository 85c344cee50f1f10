import { describe, expect, it } from "vitest";
import { sseComment, sseEvent, sseRetry } from "../src/http/sse.js";

describe("sse", () => {
  it("formats events with id, name and one-line JSON data", () => {
    expect(sseEvent("status", { a: "x\ny" }, 7)).toBe('id: 7\nevent: status\ndata: {"a":"x\\ny"}\n\n');
    expect(sseEvent("snapshot", {})).toBe("event: snapshot\ndata: {}\n\n");
  });

  it("formats comments and retry hints safely", () => {
    expect(sseComment("a\nb")).toBe(": a b\n\n");
    expect(sseRetry(3000)).toBe("retry: 3000\n\n");
  });
});
