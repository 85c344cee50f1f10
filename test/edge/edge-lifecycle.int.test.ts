import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect as tlsConnect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@patchmon-ws/service-kit";
import { ManagedProcess, REPO_ROOT, startService, type RunningService } from "@patchmon-ws/stack";
import { CERT_FILE, KEY_FILE, loadOrCreateSelfSigned } from "../../proxy/src/certificate.js";
import { startEdge, type Edge } from "../../proxy/src/edge.js";
import { closed, fetchEdge, openWebSocket, TestUpstream, type Seen } from "../../proxy/test/helpers.js";

const silent = createLogger("edge", "silent");
let stateDir: string;
const edges: Edge[] = [];
const upstreams: TestUpstream[] = [];

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "edge-lifecycle-"));
});
afterEach(async () => {
  await Promise.all(edges.splice(0).map((e) => e.close()));
  await Promise.all(upstreams.splice(0).map((u) => u.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

async function upstream(name: string): Promise<TestUpstream> {
  const u = await new TestUpstream(name).start();
  upstreams.push(u);
  return u;
}

function plainRequest(port: number, path: string, method = "GET", upgrade = false): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = upgrade ? { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" } : {};
    const req = httpRequest({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the self-signed certificate", () => {
  it("is generated once into the state folder and reused by the next start", async () => {
    const first = await startEdge({ port: 0, upstreams: {}, stateDir, logger: silent });
    const certificate = first.certificate;
    const written = (await stat(join(stateDir, CERT_FILE))).mtimeMs;
    await first.close();
    expect((await stat(join(stateDir, KEY_FILE))).mode & 0o777).toBe(0o600);

    const second = await startEdge({ port: 0, upstreams: {}, stateDir, logger: silent });
    edges.push(second);
    expect(second.certificate).toBe(certificate);
    expect((await stat(join(stateDir, CERT_FILE))).mtimeMs).toBe(written);
    expect(await readFile(join(stateDir, CERT_FILE), "utf8")).toBe(certificate);
  });

  it("is valid for localhost, 127.0.0.1 and ::1, and verifies against itself", async () => {
    const e = await startEdge({ port: 0, upstreams: {}, stateDir, logger: silent });
    edges.push(e);
    const x509 = new X509Certificate(e.certificate);
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x509.checkIP("::1")).toBe("::1");
    expect((await fetchEdge(e, "/", { host: "localhost" })).status).toBe(404);
    expect((await fetchEdge(e, "/")).status).toBe(404);
  });

  it("is replaced when damaged or about to expire", async () => {
    const created = await loadOrCreateSelfSigned(stateDir);
    expect(created.created).toBe(true);
    expect((await loadOrCreateSelfSigned(stateDir)).created).toBe(false);
    const inTwoYears = Date.now() + 800 * 24 * 3600 * 1000;
    expect((await loadOrCreateSelfSigned(stateDir, inTwoYears)).created).toBe(true);
    await writeFile(join(stateDir, CERT_FILE), "garbage");
    const repaired = await loadOrCreateSelfSigned(stateDir);
    expect(repaired.created).toBe(true);
    expect(repaired.cert).toContain("BEGIN CERTIFICATE");
  });
});

describe("a configured certificate", () => {
  it("is loaded from files and served instead of the self-signed one", async () => {
    const pems = await generate([{ name: "commonName", value: "localhost" }], {
      keyType: "ec",
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    });
    await writeFile(join(stateDir, "cert.pem"), pems.cert);
    await writeFile(join(stateDir, "key.pem"), pems.private);
    const e = await startEdge({ port: 0, upstreams: {}, tls: { cert: join(stateDir, "cert.pem"), key: join(stateDir, "key.pem") }, logger: silent });
    edges.push(e);
    expect(e.certificate).toBe(pems.cert);
    expect((await fetchEdge(e, "/")).status).toBe(404);
  });

  it("is refused at start-up when the key does not belong to the certificate", async () => {
    const a = await generate([{ name: "commonName", value: "a" }], { keyType: "ec" });
    const b = await generate([{ name: "commonName", value: "b" }], { keyType: "ec" });
    await expect(startEdge({ port: 0, upstreams: {}, tls: { cert: a.cert, key: b.private }, logger: silent })).rejects.toThrow("does not match");
  });
});

describe("the plain-HTTP entrypoint", () => {
  it("redirects to https: 301 for GET, 308 for other methods, upgrades included", async () => {
    const e = await startEdge({ port: 0, httpPort: 0, upstreams: {}, stateDir, logger: silent });
    edges.push(e);
    const httpPort = e.httpPort!;
    expect(await plainRequest(httpPort, "/api/v1/auth/login?next=/x")).toEqual({
      status: 301,
      location: `https://127.0.0.1:${e.port}/api/v1/auth/login?next=/x`,
      body: "Moved Permanently",
    });
    expect(await plainRequest(httpPort, "/api/v1/auth/login", "POST")).toMatchObject({ status: 308, location: `https://127.0.0.1:${e.port}/api/v1/auth/login` });
    expect(await plainRequest(httpPort, "/api/v1/agents/ws", "GET", true)).toMatchObject({ status: 301, location: `https://127.0.0.1:${e.port}/api/v1/agents/ws` });
  });
});

describe("close()", () => {
  it("cuts WebSocket tunnels, stops listening and resolves", async () => {
    const u = await upstream("agent-ws");
    const e = await startEdge({ port: 0, upstreams: { "agent-ws": [u.url] }, stateDir, logger: silent });
    const { ws, seen } = await openWebSocket(e, "/api/v1/agents/ws");
    expect(seen.upstream).toBe("agent-ws");
    const code = closed(ws);
    await e.close();
    expect(await code).toBe(1006);
    await expect(fetchEdge(e, "/")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("refuses plain HTTP on the HTTPS port without crashing", async () => {
    const e = await startEdge({ port: 0, upstreams: {}, stateDir, logger: silent });
    edges.push(e);
    await expect(plainRequest(e.port, "/")).rejects.toThrow();
    const socket = tlsConnect({ host: "127.0.0.1", port: e.port, ca: e.certificate });
    await new Promise((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    socket.destroy();
  });
});

describe("proxy/src/main.ts", () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  it("runs the edge from the environment, logs the listening port, and exits 0 on SIGTERM", async () => {
    const u = await upstream("auth");
    service = await startService("edge", { EDGE_PORT: "0", EDGE_STATE_DIR: stateDir, EDGE_UPSTREAMS: `auth=${u.url}`, LOG_LEVEL: "info" }, { entry: "proxy/src/main.ts", readiness: "log" });
    const certificate = await readFile(join(stateDir, CERT_FILE), "utf8");
    const fake = { port: service.port, certificate } as Edge;
    expect(((await fetchEdge(fake, "/api/v1/auth/me?ticket=secret-ticket")).json as Seen).upstream).toBe("auth");
    await service.process.waitForOutput(/"msg":"http"/);
    expect(service.process.log).toContain('"url":"/api/v1/auth/me?ticket=[REDACTED]"');
    expect(service.process.log).not.toContain("secret-ticket");
    expect(await service.stop()).toBe(0);
    service = undefined;
  });

  it("exits 78 naming the bad variable", async () => {
    const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", "proxy/src/main.ts"], {
      cwd: REPO_ROOT,
      env: { ...process.env, EDGE_PORT: "0", EDGE_STATE_DIR: stateDir, EDGE_UPSTREAMS: "nope=http://127.0.0.1:1", EDGE_TLS_CERT: "/c.pem" },
    });
    expect(await child.waitForExit()).toBe(78);
    expect(child.log).toContain('EDGE_UPSTREAMS: unknown service "nope"');
    expect(child.log).toContain("EDGE_TLS_KEY");
  });
});
