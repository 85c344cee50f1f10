import { describe, expect, it } from "vitest";
import { AgentUrlError, buildAgentUrl } from "../src/url.js";

describe("buildAgentUrl (the stock agent's URL rules)", () => {
  const cases: { server: string; version?: string; url: string; warns?: boolean }[] = [
    { server: "https://patchmon.example.com", url: "wss://patchmon.example.com/api/v1/agents/ws" },
    { server: "http://patchmon.example.com", url: "ws://patchmon.example.com/api/v1/agents/ws" },
    { server: "wss://patchmon.example.com", url: "wss://patchmon.example.com/api/v1/agents/ws" },
    { server: "ws://patchmon.example.com:3001", url: "ws://patchmon.example.com:3001/api/v1/agents/ws" },
    { server: "https://patchmon.example.com/", url: "wss://patchmon.example.com/api/v1/agents/ws" },
    { server: "https://patchmon.example.com///", url: "wss://patchmon.example.com/api/v1/agents/ws" },
    { server: "https://patchmon.example.com:8443/patchmon/", url: "wss://patchmon.example.com:8443/patchmon/api/v1/agents/ws" },
    { server: "HTTPS://Patchmon.example.com", url: "wss://Patchmon.example.com/api/v1/agents/ws" },
    { server: "  https://patchmon.example.com  ", url: "wss://patchmon.example.com/api/v1/agents/ws" },
    { server: "patchmon.example.com", url: "wss://patchmon.example.com/api/v1/agents/ws", warns: true },
    { server: "patchmon.example.com:3001/", url: "wss://patchmon.example.com:3001/api/v1/agents/ws", warns: true },
    { server: "localhost:3001", url: "wss://localhost:3001/api/v1/agents/ws", warns: true },
    { server: "10.0.0.5", url: "wss://10.0.0.5/api/v1/agents/ws", warns: true },
    { server: "https://[::1]:8443", url: "wss://[::1]:8443/api/v1/agents/ws" },
    { server: "https://patchmon.example.com", version: "v2", url: "wss://patchmon.example.com/api/v2/agents/ws" },
  ];

  it.each(cases)("$server (api $version) → $url", ({ server, version, url, warns }) => {
    const built = buildAgentUrl(server, version);
    expect(built.url).toBe(url);
    if (warns) expect(built.warning).toMatch(/missing its protocol prefix; assuming HTTPS/);
    else expect(built.warning).toBeUndefined();
  });

  it("defaults the API version to v1", () => {
    expect(buildAgentUrl("https://h").url).toBe("wss://h/api/v1/agents/ws");
  });

  const invalid: { server: string; version?: string; error: RegExp }[] = [
    { server: "", error: /empty/ },
    { server: "   ", error: /empty/ },
    { server: "ftp://patchmon.example.com", error: /unsupported scheme "ftp:\/\/"/ },
    { server: "https://", error: /not a valid URL|no host/ },
    { server: "https://user:pass@patchmon.example.com", error: /must not carry credentials/ },
    { server: "https://patchmon.example.com/?x=1", error: /query or fragment/ },
    { server: "https://patchmon.example.com#frag", error: /query or fragment/ },
    { server: "https://patchmon.example.com", version: "v1/../x", error: /api version/ },
    { server: "https://patchmon.example.com", version: "", error: /api version/ },
  ];

  it.each(invalid)("rejects $server (api $version)", ({ server, version, error }) => {
    expect(() => buildAgentUrl(server, version)).toThrow(AgentUrlError);
    expect(() => buildAgentUrl(server, version)).toThrow(error);
  });
});
