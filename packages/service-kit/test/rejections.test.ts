import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { CodedError } from "@patchmon-ws/protocol";
import { rejectUpgrade, redactUrl } from "@patchmon-ws/service-kit";

function capture(): { socket: PassThrough; text: () => string } {
  const socket = new PassThrough();
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  return { socket, text: () => Buffer.concat(chunks).toString() };
}

describe("rejectUpgrade", () => {
  it("writes an HTTP status line, JSON body and closes", async () => {
    const { socket, text } = capture();
    rejectUpgrade(socket, "INVALID_CREDENTIALS");
    await new Promise((r) => socket.on("end", r).resume());
    const [head, body] = text().split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(head).toContain("Content-Type: application/json");
    expect(head).toContain("Connection: close");
    expect(JSON.parse(body!)).toEqual({ error: "The credentials are invalid.", code: "INVALID_CREDENTIALS" });
  });

  it("sends Retry-After for rate limits and outages", async () => {
    const { socket, text } = capture();
    rejectUpgrade(socket, new CodedError("DEPENDENCY_UNAVAILABLE", "auth service unavailable", { retryAfter: 2.2 }));
    await new Promise((r) => socket.on("end", r).resume());
    expect(text()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(text()).toContain("Retry-After: 3");
  });
});

describe("redactUrl", () => {
  it("hides secret query values and keeps the rest", () => {
    expect(redactUrl("/api/v1/ssh-terminal/h1?ticket=abc123&cols=80")).toBe("/api/v1/ssh-terminal/h1?ticket=[REDACTED]&cols=80");
    expect(redactUrl("/x?a=1&TOKEN=zzz")).toBe("/x?a=1&TOKEN=[REDACTED]");
    expect(redactUrl("/plain")).toBe("/plain");
    expect(redactUrl(undefined)).toBeUndefined();
  });
});
