import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type RunningService } from "@patchmon-ws/stack";

const root = mkdtempSync(join(tmpdir(), "patchmon-web-served-"));
mkdirSync(join(root, "assets"));
const page = "<!doctype html><title>PatchMon</title>";
const script = "console.log('app');".repeat(200);
writeFileSync(join(root, "index.html"), page);
writeFileSync(join(root, "assets", "index-abc.js"), script);
writeFileSync(join(root, "assets", "index-abc.js.gz"), gzipSync(script));
let web: RunningService;
let unbuilt: RunningService;

beforeAll(async () => {
  [web, unbuilt] = await Promise.all([startService("web", { WEB_ROOT: root }), startService("web", { WEB_ROOT: join(root, "nothing-here") })]);
});

afterAll(async () => {
  await Promise.all([web?.stop(), unbuilt?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

describe("the web service", () => {
  it("serves the page for the app's routes with the security headers, never cached", async () => {
    for (const path of ["/", "/hosts/h-1/terminal"]) {
      const res = await fetch(`${web.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/text\/html/);
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(await res.text()).toBe(page);
    }
  });

  it("is ready on its UI alone: it has no NATS, and its readiness does not claim one", async () => {
    const res = await fetch(`${web.url}/readyz`);
    expect([res.status, await res.json()]).toEqual([200, { status: "ready", checks: { ui: true } }]);
  });

  it("serves hashed assets precompressed and immutable", async () => {
    const res = await fetch(`${web.url}/assets/index-abc.js`, { headers: { "accept-encoding": "gzip" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect(await res.text()).toBe(script);
    const plain = await fetch(`${web.url}/assets/index-abc.js`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe(script);
  });

  it("answers a missing file 404 JSON, other methods 405, and never serves outside its folder", async () => {
    const missing = await fetch(`${web.url}/assets/gone.js`);
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, "NOT_FOUND"]);
    expect((await fetch(`${web.url}/`, { method: "POST" })).status).toBe(405);
    const traversal = await fetch(`${web.url}/..%2f..%2f..%2fetc%2fpasswd`);
    expect(await traversal.text()).not.toContain("root:");
  });

  it("says plainly when the UI is not built: 503 and not ready", async () => {
    const res = await fetch(`${unbuilt.url}/`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/not built/);
    const readiness = await fetch(`${unbuilt.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(((await readiness.json()) as { checks: Record<string, boolean> }).checks, "no NATS among its checks").toEqual({ ui: false });
    expect((await fetch(`${unbuilt.url}/healthz`)).status).toBe(200);
  });
});
