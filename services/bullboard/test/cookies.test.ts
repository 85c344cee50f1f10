import { describe, expect, it } from "vitest";
import {
  CSRF_COOKIE,
  SESSION_COOKIE,
  cookieMaxAge,
  csrfCookie,
  csrfTokenFor,
  csrfTokenMatches,
  readCookies,
  sessionCookies,
} from "../src/cookies.js";

describe("CSRF token", () => {
  it("is derived from the session token, stable, and differs between sessions", () => {
    expect(csrfTokenFor("token-a")).toBe(csrfTokenFor("token-a"));
    expect(csrfTokenFor("token-a")).not.toBe(csrfTokenFor("token-b"));
    expect(csrfTokenFor("token-a")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("matches only the exact token of the same session", () => {
    const token = csrfTokenFor("session");
    expect(csrfTokenMatches("session", token)).toBe(true);
    expect(csrfTokenMatches("other-session", token)).toBe(false);
    expect(csrfTokenMatches("session", undefined)).toBe(false);
    expect(csrfTokenMatches("session", "")).toBe(false);
    expect(csrfTokenMatches("session", token.slice(0, -1))).toBe(false);
    expect(csrfTokenMatches("session", `${token}x`)).toBe(false);
  });
});

describe("cookies", () => {
  it("reads the session and CSRF cookies among others", () => {
    expect(readCookies(`a=1; ${SESSION_COOKIE}=tok; ${CSRF_COOKIE}=c`)).toEqual({ session: "tok", csrf: "c" });
    expect(readCookies(undefined)).toEqual({});
    expect(readCookies("garbage")).toEqual({});
    expect(readCookies(`${SESSION_COOKIE}=`)).toEqual({});
  });

  it("issues an HttpOnly, SameSite=Strict session cookie on /bullboard, Secure only over https", () => {
    const [session, csrf] = sessionCookies("tok", { maxAgeSeconds: 600, secure: true });
    expect(session).toBe(`${SESSION_COOKIE}=tok; Max-Age=600; Path=/bullboard; HttpOnly; Secure; SameSite=Strict`);
    expect(csrf).toBe(`${CSRF_COOKIE}=${csrfTokenFor("tok")}; Max-Age=600; Path=/bullboard; Secure; SameSite=Strict`);
    const [plain] = sessionCookies("tok", { maxAgeSeconds: 600, secure: false });
    expect(plain).not.toContain("Secure");
    expect(csrfCookie("tok", { maxAgeSeconds: 5, secure: false })).not.toContain("HttpOnly");
  });

  it("gives a cookie the token's remaining lifetime, capped", () => {
    const now = 1_000_000;
    expect(cookieMaxAge(now + 300_500, 900, now)).toBe(300);
    expect(cookieMaxAge(now + 5_000_000, 900, now)).toBe(900);
    expect(cookieMaxAge(now - 1, 900, now)).toBe(0);
    expect(cookieMaxAge(undefined, 900, now)).toBe(900);
  });
});
