import { describe, expect, it } from "vitest";
import type { IncomingMessage } from "node:http";
import { ProxyTrust } from "@patchmon-ws/service-kit";

function request(remoteAddress: string, headers: Record<string, string | string[]>, encrypted = false): IncomingMessage {
  return { socket: { remoteAddress, encrypted }, headers } as unknown as IncomingMessage;
}

describe("ProxyTrust", () => {
  const trust = new ProxyTrust(["127.0.0.1/32", "::1/128", "10.0.0.0/8", "fd00::/8"]);

  it("matches addresses and CIDRs, including IPv4-mapped IPv6", () => {
    expect(trust.isTrusted("127.0.0.1")).toBe(true);
    expect(trust.isTrusted("::ffff:10.1.2.3")).toBe(true);
    expect(trust.isTrusted("fd00::1")).toBe(true);
    expect(trust.isTrusted("192.168.1.1")).toBe(false);
    expect(trust.isTrusted("not-an-ip")).toBe(false);
    expect(trust.isTrusted(undefined)).toBe(false);
  });

  it("treats https and wss as secure, case-insensitively, first value only, from trusted peers only", () => {
    expect(trust.isSecure(request("10.0.0.1", { "x-forwarded-proto": "wss" }))).toBe(true);
    expect(trust.isSecure(request("10.0.0.1", { "x-forwarded-proto": "HTTPS" }))).toBe(true);
    expect(trust.isSecure(request("10.0.0.1", { "x-forwarded-proto": "https, http" }))).toBe(true);
    expect(trust.isSecure(request("10.0.0.1", { "x-forwarded-proto": "http, https" }))).toBe(false);
    expect(trust.isSecure(request("10.0.0.1", { "x-forwarded-proto": "ws" }))).toBe(false);
    expect(trust.isSecure(request("203.0.113.9", { "x-forwarded-proto": "https" }))).toBe(false);
    expect(trust.isSecure(request("203.0.113.9", {}, true))).toBe(true);
  });

  it("takes the client address from X-Forwarded-For only behind a trusted proxy, skipping trusted hops", () => {
    expect(trust.clientAddress(request("10.0.0.1", { "x-forwarded-for": "198.51.100.7, 10.0.0.9" }))).toBe("198.51.100.7");
    expect(trust.clientAddress(request("10.0.0.1", { "x-forwarded-for": "6.6.6.6, 198.51.100.7" }))).toBe("198.51.100.7");
    expect(trust.clientAddress(request("203.0.113.9", { "x-forwarded-for": "198.51.100.7" }))).toBe("203.0.113.9");
    expect(trust.clientAddress(request("10.0.0.1", {}))).toBe("10.0.0.1");
  });

  it("derives the public origin from trusted forwarded headers", () => {
    expect(trust.publicOrigin(request("10.0.0.1", { host: "svc:3001", "x-forwarded-host": "pm.example.com", "x-forwarded-proto": "wss" }))).toBe("https://pm.example.com");
    expect(trust.publicOrigin(request("203.0.113.9", { host: "svc:3001", "x-forwarded-host": "evil.example" }))).toBe("http://svc:3001");
  });

  it("refuses invalid CIDRs at construction", () => {
    expect(() => new ProxyTrust(["10.0.0.0/33"])).toThrow(/TRUSTED_PROXIES/);
    expect(() => new ProxyTrust(["example.com"])).toThrow(/TRUSTED_PROXIES/);
  });
});
