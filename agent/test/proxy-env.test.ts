import { describe, expect, it } from "vitest";
import { bypassesProxy, parseProxyUrl, ProxyConfigError, proxyForTarget, redactProxy } from "../src/proxy-env.js";

const target = (url: string) => new URL(url);

describe("proxyForTarget", () => {
  it("uses HTTPS_PROXY for wss:// and HTTP_PROXY for ws://, without falling back to the other", () => {
    const env = { HTTPS_PROXY: "http://secure-proxy:3128", HTTP_PROXY: "http://plain-proxy:3128" };
    expect(proxyForTarget(target("wss://patchmon.example.com/api/v1/agents/ws"), undefined, env)?.href).toBe("http://secure-proxy:3128/");
    expect(proxyForTarget(target("ws://patchmon.example.com/api/v1/agents/ws"), undefined, env)?.href).toBe("http://plain-proxy:3128/");
    expect(proxyForTarget(target("wss://patchmon.example.com"), undefined, { HTTP_PROXY: "http://plain:1" })).toBeUndefined();
    expect(proxyForTarget(target("ws://patchmon.example.com"), undefined, { HTTPS_PROXY: "http://secure:1" })).toBeUndefined();
  });

  it("prefers upper case, falls back to lower case, and treats empty as unset", () => {
    expect(proxyForTarget(target("wss://h.example"), undefined, { HTTPS_PROXY: "http://upper:1", https_proxy: "http://lower:1" })?.hostname).toBe("upper");
    expect(proxyForTarget(target("wss://h.example"), undefined, { https_proxy: "http://lower:1" })?.hostname).toBe("lower");
    expect(proxyForTarget(target("wss://h.example"), undefined, { HTTPS_PROXY: "  ", https_proxy: "http://lower:1" })?.hostname).toBe("lower");
    expect(proxyForTarget(target("wss://h.example"), undefined, {})).toBeUndefined();
  });

  it("an explicit proxy overrides the environment for both schemes; \"\" disables proxying", () => {
    const env = { HTTPS_PROXY: "http://env:1", HTTP_PROXY: "http://env:1" };
    expect(proxyForTarget(target("wss://h.example"), "http://explicit:8080", env)?.hostname).toBe("explicit");
    expect(proxyForTarget(target("ws://h.example"), "http://explicit:8080", env)?.hostname).toBe("explicit");
    expect(proxyForTarget(target("wss://h.example"), "", env)).toBeUndefined();
  });

  it("never proxies localhost or loopback addresses (as Go does)", () => {
    const env = { HTTPS_PROXY: "http://proxy:1" };
    for (const url of ["wss://localhost:3000", "wss://app.localhost", "wss://127.0.0.1:3000", "wss://127.9.9.9", "wss://[::1]:3000"]) {
      expect(proxyForTarget(target(url), undefined, env), url).toBeUndefined();
    }
    expect(proxyForTarget(target("wss://10.0.0.1"), undefined, env)?.hostname).toBe("proxy");
  });

  it("honours NO_PROXY (and no_proxy), including with an explicit proxy", () => {
    expect(proxyForTarget(target("wss://agent.test:8443"), undefined, { HTTPS_PROXY: "http://p:1", NO_PROXY: "agent.test" })).toBeUndefined();
    expect(proxyForTarget(target("wss://agent.test:8443"), undefined, { HTTPS_PROXY: "http://p:1", no_proxy: "agent.test" })).toBeUndefined();
    expect(proxyForTarget(target("wss://agent.test:8443"), "http://p:1", { NO_PROXY: "agent.test" })).toBeUndefined();
    expect(proxyForTarget(target("wss://other.test:8443"), "http://p:1", { NO_PROXY: "agent.test" })?.hostname).toBe("p");
  });

  it("rejects proxies it cannot use", () => {
    expect(() => proxyForTarget(target("wss://h.example"), "socks5://p:1080", {})).toThrow(/not supported/);
    expect(() => parseProxyUrl("http://")).toThrow(ProxyConfigError);
  });
});

describe("parseProxyUrl", () => {
  it("reads a bare host:port as http://", () => {
    expect(parseProxyUrl("proxy.corp:3128").href).toBe("http://proxy.corp:3128/");
    expect(parseProxyUrl("https://proxy.corp:3129").protocol).toBe("https:");
  });
});

describe("bypassesProxy (NO_PROXY rules)", () => {
  const cases: { host: string; port: number; noProxy: string; bypass: boolean }[] = [
    { host: "a.example.com", port: 443, noProxy: "*", bypass: true },
    { host: "example.com", port: 443, noProxy: "example.com", bypass: true },
    { host: "sub.example.com", port: 443, noProxy: "example.com", bypass: true },
    { host: "badexample.com", port: 443, noProxy: "example.com", bypass: false },
    { host: "example.com", port: 443, noProxy: ".example.com", bypass: false },
    { host: "sub.example.com", port: 443, noProxy: ".example.com", bypass: true },
    { host: "sub.example.com", port: 443, noProxy: "*.example.com", bypass: true },
    { host: "Sub.Example.COM", port: 443, noProxy: " other.org , EXAMPLE.com ", bypass: true },
    { host: "example.com", port: 443, noProxy: "example.com:8443", bypass: false },
    { host: "example.com", port: 8443, noProxy: "example.com:8443", bypass: true },
    { host: "10.1.2.3", port: 443, noProxy: "10.1.2.3", bypass: true },
    { host: "10.1.2.4", port: 443, noProxy: "10.1.2.3", bypass: false },
    { host: "10.1.2.3", port: 443, noProxy: "10.0.0.0/8", bypass: true },
    { host: "11.1.2.3", port: 443, noProxy: "10.0.0.0/8", bypass: false },
    { host: "fd00::5", port: 443, noProxy: "fd00::/8", bypass: true },
    { host: "[fd00::5]", port: 443, noProxy: "[fd00::5]:443", bypass: true },
    { host: "example.com", port: 443, noProxy: "10.0.0.0/8", bypass: false },
    { host: "10.1.2.3", port: 443, noProxy: "example.com", bypass: false },
    { host: "example.com", port: 443, noProxy: "", bypass: false },
    { host: "example.com", port: 443, noProxy: ",,", bypass: false },
    { host: "10.1.2.3", port: 443, noProxy: "10.0.0.0/99,garbage/x", bypass: false },
  ];
  it.each(cases)("$host:$port with NO_PROXY=$noProxy → bypass $bypass", ({ host, port, noProxy, bypass }) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(bypass);
  });
});

describe("redactProxy", () => {
  it("hides proxy credentials in logs", () => {
    expect(redactProxy(new URL("http://user:secret@proxy:3128"))).not.toContain("secret");
    expect(redactProxy("http://user:secret@proxy:3128")).toBe("http://[REDACTED]@proxy:3128");
    expect(redactProxy(new URL("http://proxy:3128"))).toBe("http://proxy:3128/");
  });
});
