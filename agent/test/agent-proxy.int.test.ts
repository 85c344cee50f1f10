/**
 * Proxies: a real CONNECT proxy in the test. The agent dials names only the proxy can resolve (agent.test,
 * other.test), so a connection that works proves the tunnel was used.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { RejectionInfo } from "../src/reference-agent.js";
import { AgentPool, captureLogger } from "./support/agents.js";
import { ConnectProxy } from "./support/connect-proxy.js";
import { TestPeer } from "./support/peer.js";
import { createTestPki, type TestPki } from "./support/tls.js";
import { nextEvent, waitFor } from "./support/wait.js";

let pki: TestPki;
const pool = new AgentPool();
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await pool.stopAll();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function setUp(options: { tls: boolean; credentials?: string }) {
  const peer = await TestPeer.start(options.tls ? { tls: { key: pki.serverKey, cert: pki.serverCert } } : {});
  const proxy = await ConnectProxy.start({
    hosts: { "agent.test": "127.0.0.1", "other.test": "127.0.0.1" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  closers.push(() => peer.close(), () => proxy.close());
  return { peer, proxy, scheme: options.tls ? "https" : "http" };
}

/** Environment without any proxy settings inherited from the machine running the tests. */
function clearProxyEnv() {
  for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"]) vi.stubEnv(name, "");
}

describe("proxy support", () => {
  it("tunnels wss:// through HTTPS_PROXY with a custom CA (TLS end to end through the tunnel)", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true });
    clearProxyEnv();
    vi.stubEnv("HTTPS_PROXY", proxy.url);
    const agent = pool.create({ server: `${scheme}://agent.test:${peer.port}`, ca: pki.caCert });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(proxy.requests.map((r) => r.target)).toEqual([`agent.test:${peer.port}`]);
    const connection = await peer.connection(0);
    expect(connection.headers["x-api-key"]).toBe("k3y-for-tests");
    // The proxy only saw CONNECT: the API key travelled inside TLS.
    expect(JSON.stringify(proxy.requests)).not.toContain("k3y-for-tests");
  });

  it("uses the proxy with the insecure flag too (the stock skip-verify dialer did not)", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true });
    clearProxyEnv();
    vi.stubEnv("https_proxy", proxy.url);
    const agent = pool.create({ server: `${scheme}://agent.test:${peer.port}`, insecure: true });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(proxy.requests).toHaveLength(1);
  });

  it("still verifies the server name through the tunnel", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true });
    clearProxyEnv();
    vi.stubEnv("HTTPS_PROXY", proxy.url);
    // other.test reaches the same server, whose certificate does not list that name.
    const agent = pool.create({ server: `${scheme}://other.test:${peer.port}`, ca: pki.caCert });
    const error = nextEvent<[Error]>(agent, "error");
    agent.start();
    expect(((await error)[0] as NodeJS.ErrnoException).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(peer.connections).toHaveLength(0);
  });

  it("tunnels ws:// through HTTP_PROXY, and ignores HTTPS_PROXY for it", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: false });
    clearProxyEnv();
    vi.stubEnv("HTTP_PROXY", proxy.url);
    vi.stubEnv("HTTPS_PROXY", "http://127.0.0.1:9");
    const agent = pool.create({ server: `${scheme}://agent.test:${peer.port}` });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(proxy.requests.map((r) => r.target)).toEqual([`agent.test:${peer.port}`]);
  });

  it("sends proxy credentials from the proxy URL (explicit proxy option)", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true, credentials: "agent:pr0xy-pass" });
    clearProxyEnv();
    const logger = captureLogger();
    const agent = pool.create({ server: `${scheme}://agent.test:${peer.port}`, ca: pki.caCert, proxy: proxy.url.replace("http://", "http://agent:pr0xy-pass@"), logger });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(proxy.requests[0]?.headers["proxy-authorization"]).toBe(`Basic ${Buffer.from("agent:pr0xy-pass").toString("base64")}`);
    expect(JSON.stringify(logger.entries)).not.toContain("pr0xy-pass");
  });

  it("reports a proxy refusal (407) as an error, not as the server rejecting the agent", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true, credentials: "agent:right" });
    clearProxyEnv();
    vi.stubEnv("HTTPS_PROXY", proxy.url.replace("http://", "http://agent:wrong@"));
    const agent = pool.create({ server: `${scheme}://agent.test:${peer.port}`, ca: pki.caCert });
    const rejections: RejectionInfo[] = [];
    agent.on("rejected", (r) => rejections.push(r));
    const errors: Error[] = [];
    agent.on("error", (e) => errors.push(e));
    agent.start();
    await waitFor(() => errors.length >= 2, "two failed attempts");
    expect(errors[0]?.message).toMatch(/refused the tunnel with HTTP 407/);
    expect(errors[0]?.message).not.toContain("wrong");
    expect(rejections).toEqual([]);
    expect(peer.upgradeRequests).toHaveLength(0);
  });

  it("honours NO_PROXY: the excluded host is dialled directly, others still go through the proxy", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: true });
    clearProxyEnv();
    vi.stubEnv("HTTPS_PROXY", proxy.url);
    vi.stubEnv("NO_PROXY", "example.org, agent.test");
    const direct = pool.create({ server: `${scheme}://agent.test:${peer.port}`, ca: pki.caCert });
    const error = nextEvent<[Error]>(direct, "error");
    direct.start();
    // agent.test (RFC 2606: never resolvable) is looked up directly instead of being handed to the proxy.
    expect(((await error)[0] as NodeJS.ErrnoException).code).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/);
    expect(proxy.requests).toHaveLength(0);
    await direct.stop();

    vi.stubEnv("NO_PROXY", "example.org");
    const proxied = pool.create({ server: `${scheme}://agent.test:${peer.port}`, ca: pki.caCert, apiId: "host_test_2" });
    const connected = nextEvent(proxied, "connected");
    proxied.start();
    await connected;
    expect(proxy.requests.map((r) => r.target)).toEqual([`agent.test:${peer.port}`]);
  });

  it("never sends loopback targets to the proxy", async () => {
    const { peer, proxy, scheme } = await setUp({ tls: false });
    clearProxyEnv();
    vi.stubEnv("HTTP_PROXY", proxy.url);
    const agent = pool.create({ server: `${scheme}://127.0.0.1:${peer.port}` });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(proxy.requests).toHaveLength(0);
  });
});
