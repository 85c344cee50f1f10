import { describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS, cacheControlFor } from "../src/security-headers.js";

describe("security headers", () => {
  it("forbid framing by others, eval and third-party origins", () => {
    const directives = new Map(CONTENT_SECURITY_POLICY.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
    expect(directives.get("frame-ancestors")).toEqual(["'self'"]);
    expect(directives.get("script-src")).toEqual(["'self'"]);
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe-eval");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:/);
    expect(SECURITY_HEADERS["X-Frame-Options"]).toBe("SAMEORIGIN");
    expect(SECURITY_HEADERS["Referrer-Policy"]).toBe("no-referrer");
  });

  it("never caches pages or API answers; static files revalidate", () => {
    expect(cacheControlFor("/api/queues")).toBe("no-store");
    expect(cacheControlFor("/")).toBe("no-store");
    expect(cacheControlFor("/static/js/main.js")).toBe("private, no-cache");
  });
});
