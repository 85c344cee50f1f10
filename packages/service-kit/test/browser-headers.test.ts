import { describe, expect, it } from "vitest";
import { browserSecurityHeaders, contentSecurityPolicy } from "@patchmon-ws/service-kit";

describe("contentSecurityPolicy", () => {
  it("is strict by default: this origin only, nothing inline, no framing, no plugins", () => {
    expect(contentSecurityPolicy()).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
    );
  });

  it("replaces only the directives given, keeping their place", () => {
    const policy = contentSecurityPolicy({ "style-src": "'self' 'unsafe-inline'" });
    expect(policy).toContain("script-src 'self'; style-src 'self' 'unsafe-inline'; img-src");
    expect(policy).not.toContain("unsafe-eval");
  });
});

describe("browserSecurityHeaders", () => {
  it("denies framing unless the policy allows its own origin, and never sends a Referer", () => {
    expect(browserSecurityHeaders(contentSecurityPolicy())).toMatchObject({ "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff" });
    expect(browserSecurityHeaders(contentSecurityPolicy({ "frame-ancestors": "'self'" }))["X-Frame-Options"]).toBe("SAMEORIGIN");
  });

  it("adds a service's own headers", () => {
    expect(browserSecurityHeaders(contentSecurityPolicy(), { "X-Robots-Tag": "noindex" })["X-Robots-Tag"]).toBe("noindex");
  });
});
