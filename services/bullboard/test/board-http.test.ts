import { describe, expect, it } from "vitest";
import { withoutTicket } from "../src/board-http.js";

describe("withoutTicket", () => {
  it("keeps the board path and other parameters, drops the ticket", () => {
    expect(withoutTicket("/bullboard?ticket=abc")).toBe("/bullboard");
    expect(withoutTicket("/bullboard/?ticket=abc")).toBe("/bullboard/");
    expect(withoutTicket("/bullboard/queue/agent-commands?status=failed&ticket=abc")).toBe("/bullboard/queue/agent-commands?status=failed");
  });

  it("never redirects off the board (no protocol-relative or dot-segment paths)", () => {
    expect(withoutTicket("/bullboard/..//evil.example?ticket=abc")).toBe("/bullboard/");
    expect(withoutTicket("/bullboard//evil.example?ticket=abc")).toBe("/bullboard/");
    expect(withoutTicket("/bullboard/./x?ticket=abc")).toBe("/bullboard/");
    expect(withoutTicket("/bullboard/%2e%2e/%2E%2e/x?ticket=abc")).toBe("/bullboard/");
    expect(withoutTicket("/bullboard/queue/a.b?ticket=abc")).toBe("/bullboard/queue/a.b");
    expect(withoutTicket("/bullboard/a\\b?ticket=abc")).toBe("/bullboard/");
  });
});
