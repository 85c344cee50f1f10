import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { clientIp, forwardedRequestHeaders, isManagedXHeader, isWebSocketRequest, type ForwardingContext } from "../src/forwarded-headers.js";

const context = (overrides: Partial<ForwardingContext> = {}): ForwardingContext => ({
  remoteAddress: "203.0.113.7",
  encrypted: true,
  trusted: false,
  hostname: "edge-1",
  ...overrides,
});
const upgrade: IncomingHttpHeaders = { host: "pm.example.com", connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "k", "sec-websocket-version": "13" };

describe("forwardedRequestHeaders", () => {
  it("sets the Traefik headers on a plain HTTPS request", () => {
    expect(forwardedRequestHeaders({ host: "pm.example.com", accept: "*/*" }, context())).toEqual({
      host: "pm.example.com",
      accept: "*/*",
      "x-real-ip": "203.0.113.7",
      "x-forwarded-proto": "https",
      "x-forwarded-port": "443",
      "x-forwarded-host": "pm.example.com",
      "x-forwarded-server": "edge-1",
      "x-forwarded-for": "203.0.113.7",
    });
  });

  it("says wss on a WebSocket upgrade over TLS, ws without TLS, http for plain HTTP", () => {
    expect(forwardedRequestHeaders(upgrade, context())["x-forwarded-proto"]).toBe("wss");
    expect(forwardedRequestHeaders(upgrade, context({ encrypted: false }))["x-forwarded-proto"]).toBe("ws");
    expect(forwardedRequestHeaders({ host: "a" }, context({ encrypted: false }))["x-forwarded-proto"]).toBe("http");
  });

  it("keeps the upgrade: Connection becomes exactly Upgrade, Upgrade is preserved", () => {
    const out = forwardedRequestHeaders({ ...upgrade, connection: "keep-alive, Upgrade" }, context());
    expect(out.connection).toBe("Upgrade");
    expect(out.upgrade).toBe("websocket");
    expect(out["sec-websocket-key"]).toBe("k");
  });

  it("takes X-Forwarded-Port from the Host header's port", () => {
    expect(forwardedRequestHeaders({ host: "127.0.0.1:8443" }, context())["x-forwarded-port"]).toBe("8443");
    expect(forwardedRequestHeaders({ host: "[::1]:9443" }, context())["x-forwarded-port"]).toBe("9443");
    expect(forwardedRequestHeaders({ host: "a" }, context({ encrypted: false }))["x-forwarded-port"]).toBe("80");
  });

  it("deletes every managed X- header from an untrusted peer, underscore spellings included", () => {
    const spoofed: IncomingHttpHeaders = {
      host: "pm.example.com",
      "x-forwarded-proto": "http",
      "x-forwarded-for": "10.0.0.1",
      "x-forwarded-host": "evil.example",
      "x-forwarded-port": "1",
      "x-forwarded-server": "evil",
      "x-forwarded-uri": "/admin",
      "x-forwarded-method": "DELETE",
      "x-forwarded-prefix": "/x",
      "x-forwarded-scheme": "http",
      "x-forwarded-tls-client-cert": "c",
      "x-forwarded-tls-client-cert-info": "i",
      "x-scheme": "http",
      "x-real-ip": "10.0.0.1",
      x_forwarded_proto: "http",
      "x_forwarded-for": "10.0.0.2",
      x_real_ip: "10.0.0.3",
      "x-forwarded-custom": "kept: not a header Traefik manages",
    };
    expect(forwardedRequestHeaders(spoofed, context())).toEqual({
      host: "pm.example.com",
      "x-forwarded-custom": "kept: not a header Traefik manages",
      "x-real-ip": "203.0.113.7",
      "x-forwarded-proto": "https",
      "x-forwarded-port": "443",
      "x-forwarded-host": "pm.example.com",
      "x-forwarded-server": "edge-1",
      "x-forwarded-for": "203.0.113.7",
    });
  });

  it("keeps a trusted peer's headers and appends the peer to X-Forwarded-For", () => {
    const out = forwardedRequestHeaders(
      { host: "edge", "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.1, 10.0.0.5", "x-forwarded-host": "pm.example.com", "x-real-ip": "198.51.100.1", "x-forwarded-port": "443" },
      context({ remoteAddress: "10.0.0.9", trusted: true, encrypted: false }),
    );
    expect(out["x-forwarded-proto"]).toBe("https");
    expect(out["x-forwarded-for"]).toBe("198.51.100.1, 10.0.0.5, 10.0.0.9");
    expect(out["x-forwarded-host"]).toBe("pm.example.com");
    expect(out["x-real-ip"]).toBe("198.51.100.1");
    expect(out["x-forwarded-port"]).toBe("443");
    expect(out["x-forwarded-server"]).toBe("edge-1");
  });

  it("fills headers a trusted peer left empty", () => {
    const out = forwardedRequestHeaders({ host: "a", "x-forwarded-proto": "", "x-real-ip": "" }, context({ trusted: true }));
    expect(out["x-forwarded-proto"]).toBe("https");
    expect(out["x-real-ip"]).toBe("203.0.113.7");
  });

  it("drops headers named in Connection, but never the managed X- headers or message framing", () => {
    const out = forwardedRequestHeaders(
      { host: "a", connection: "close, x-forwarded-for, X_Real_Ip, x-secret, content-length, host", "x-secret": "s", "content-length": "3" },
      context(),
    );
    expect(out["x-secret"]).toBeUndefined();
    expect(out["x-forwarded-for"]).toBe("203.0.113.7");
    expect(out["x-real-ip"]).toBe("203.0.113.7");
    expect(out["content-length"]).toBe("3");
    expect(out.host).toBe("a");
    expect(out.connection).toBeUndefined();
  });

  it("removes hop-by-hop headers, keeping Te: trailers", () => {
    const out = forwardedRequestHeaders(
      { host: "a", "keep-alive": "timeout=5", "proxy-connection": "keep-alive", "proxy-authorization": "Basic x", te: "trailers, deflate", trailer: "x", upgrade: "h2c" },
      context(),
    );
    expect(out).not.toHaveProperty("keep-alive");
    expect(out).not.toHaveProperty("proxy-connection");
    expect(out).not.toHaveProperty("proxy-authorization");
    expect(out).not.toHaveProperty("trailer");
    expect(out).not.toHaveProperty("upgrade");
    expect(out.te).toBe("trailers");
  });

  it("does not modify its input", () => {
    const input: IncomingHttpHeaders = { host: "a", "x-forwarded-for": "1.1.1.1" };
    forwardedRequestHeaders(input, context());
    expect(input).toEqual({ host: "a", "x-forwarded-for": "1.1.1.1" });
  });
});

describe("helpers", () => {
  it("isManagedXHeader knows both spellings", () => {
    expect(isManagedXHeader("X-Forwarded-Proto")).toBe(true);
    expect(isManagedXHeader("x_forwarded_proto")).toBe(true);
    expect(isManagedXHeader("X_Real_Ip")).toBe(true);
    expect(isManagedXHeader("x-forwarded-custom")).toBe(false);
    expect(isManagedXHeader("authorization")).toBe(false);
  });

  it("isWebSocketRequest wants Connection: upgrade and Upgrade: websocket, any case", () => {
    expect(isWebSocketRequest({ connection: "keep-alive, UPGRADE", upgrade: "WebSocket" })).toBe(true);
    expect(isWebSocketRequest({ connection: "upgrade", upgrade: "h2c" })).toBe(false);
    expect(isWebSocketRequest({ upgrade: "websocket" })).toBe(false);
  });

  it("clientIp shows IPv4-mapped addresses as IPv4 and drops IPv6 zones", () => {
    expect(clientIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(clientIp("fe80::1%eth0")).toBe("fe80::1");
    expect(clientIp("::1")).toBe("::1");
    expect(clientIp(undefined)).toBeUndefined();
  });
});
