import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { ManagedProcess, REPO_ROOT } from "@patchmon-ws/stack";

/** POST JSON over real TLS to the edge, accepting its self-signed certificate. */
function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(url, { method: "POST", rejectUnauthorized: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || "null") }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("npm start (the local stack)", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "patchmon-ws-stack-"));
  let stack: ManagedProcess | undefined;
  afterAll(async () => {
    await stack?.stop("SIGINT", 15_000);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("brings NATS, Redis, every service and the TLS edge up, prints the URL and an admin login that works", async () => {
    // EDGE_PORT=0: the edge binds any free port and the printed URL names it (no port picked here and reused).
    stack = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", "scripts/start-stack.ts"], {
      cwd: REPO_ROOT,
      env: { ...process.env, STATE_DIR: stateDir, EDGE_PORT: "0", NATS_URL: "", REDIS_URL: "" },
    });
    const [, url, port] = await stack.waitForOutput(/is up at (https:\/\/localhost:(\d+))/, 90_000);
    const [, username, password] = await stack.waitForOutput(/admin login: (\S+) \/ (\S+)/);
    expect(Number(port)).toBeGreaterThan(0);
    expect(url).toBe(`https://localhost:${port}`);

    const login = await postJson(`https://127.0.0.1:${port}/api/v1/auth/login`, { username, password });
    expect(login.status).toBe(200);
    expect(login.body.accessToken).toEqual(expect.any(String));
    // Secrets are kept private to the owner.
    expect(statSync(join(stateDir, "secrets.json")).mode & 0o077).toBe(0);

    expect(await stack.stop("SIGINT", 15_000)).toBe(0);
    expect(stack.log).toContain("stopping");
  }, 120_000);
});
