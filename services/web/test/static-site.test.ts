import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY } from "../src/security-headers.js";
import { preferredEncodings, resolvePath } from "../src/static-site.js";

const root = mkdtempSync(join(tmpdir(), "patchmon-web-root-"));
mkdirSync(join(root, "assets"));
writeFileSync(join(root, "index.html"), "<!doctype html>");
writeFileSync(join(root, "assets", "index-abc.js"), "x");
writeFileSync(join(root, "favicon.svg"), "<svg/>");

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("resolvePath", () => {
  it("serves files of the build, hashed assets as immutable", () => {
    expect(resolvePath(root, "/assets/index-abc.js")).toEqual({ kind: "file", path: join(root, "assets", "index-abc.js"), immutable: true });
    expect(resolvePath(root, "/favicon.svg")).toEqual({ kind: "file", path: join(root, "favicon.svg"), immutable: false });
  });

  it("answers the app's routes with the page, and missing files with nothing", () => {
    for (const path of ["/", "/hosts", "/hosts/abc/terminal", "/users", "/index.html"]) expect(resolvePath(root, path)).toEqual({ kind: "app" });
    expect(resolvePath(root, "/assets/gone-123.js")).toEqual({ kind: "missing" });
    expect(resolvePath(root, "/robots.txt")).toEqual({ kind: "missing" });
  });

  it("never leaves the build folder", () => {
    for (const path of ["/../../etc/passwd", "/..%2f..%2fetc%2fpasswd", "/assets/..%2f..%2f..%2fetc/hostname", "/%00", "/%E0%A4%A"]) {
      const resolved = resolvePath(root, path);
      if (resolved.kind === "file") expect(resolved.path.startsWith(root)).toBe(true);
      expect(resolved.kind).not.toBe("file");
    }
  });
});

describe("preferredEncodings", () => {
  it("prefers brotli, then gzip, among what the client accepts", () => {
    expect(preferredEncodings("gzip, deflate, br")).toEqual(["br", "gzip"]);
    expect(preferredEncodings("gzip;q=1.0")).toEqual(["gzip"]);
    expect(preferredEncodings(undefined)).toEqual([]);
    expect(preferredEncodings("identity")).toEqual([]);
  });
});

describe("the Content-Security-Policy", () => {
  it("allows scripts from this origin only: no inline script, no eval, no other origin", () => {
    const directives = new Map(CONTENT_SECURITY_POLICY.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
    expect(directives.get("script-src")).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-eval'/);
    expect(directives.get("script-src")).not.toContain("'unsafe-inline'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:|\*/);
  });
});
