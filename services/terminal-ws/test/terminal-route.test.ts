import { describe, expect, it } from "vitest";
import { CodedError } from "@patchmon-ws/protocol";
import { parseTerminalRoute, TICKET_SHAPE } from "../src/terminal-route.js";

const VERSIONS = ["v1"] as const;

function refusal(url: string | undefined, versions: readonly string[] = VERSIONS): CodedError {
  try {
    parseTerminalRoute(url, versions);
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    return err as CodedError;
  }
  throw new Error(`${String(url)} was accepted`);
}

describe("parseTerminalRoute: accepted paths", () => {
  it("reads the version, host id and ticket", () => {
    expect(parseTerminalRoute("/api/v1/ssh-terminal/host-1?ticket=abcDEF123_-xyz", VERSIONS)).toEqual({
      version: "v1",
      hostId: "host-1",
      ticket: "abcDEF123_-xyz",
    });
  });

  it("accepts a trailing slash", () => {
    expect(parseTerminalRoute("/api/v1/ssh-terminal/host-1/", VERSIONS)).toEqual({ version: "v1", hostId: "host-1", ticket: undefined });
    expect(parseTerminalRoute("/api/v1/ssh-terminal/host-1/?ticket=t0123456789", VERSIONS).ticket).toBe("t0123456789");
  });

  it("accepts PatchMon's host ids (UUIDs) and any served version", () => {
    const id = "3f2c9a0e-1d2b-4c5d-9e8f-0a1b2c3d4e5f";
    expect(parseTerminalRoute(`/api/v2/ssh-terminal/${id}`, ["v1", "v2"])).toMatchObject({ version: "v2", hostId: id });
  });

  it("decodes a percent-encoded host id made of identifier characters", () => {
    expect(parseTerminalRoute("/api/v1/ssh-terminal/host%2D1", VERSIONS).hostId).toBe("host-1");
  });

  it("reads the ticket as sent (URL-decoded), whatever else is in the query", () => {
    const route = parseTerminalRoute("/api/v1/ssh-terminal/h1?foo=1&ticket=abc%2Ddef_123&bar=2", VERSIONS);
    expect(route.ticket).toBe("abc-def_123");
  });
});

describe("parseTerminalRoute: tickets", () => {
  it("has no ticket when the parameter is absent or empty", () => {
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1", VERSIONS).ticket).toBeUndefined();
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1?", VERSIONS).ticket).toBeUndefined();
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1?ticket=", VERSIONS).ticket).toBeUndefined();
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1?ticket", VERSIONS).ticket).toBeUndefined();
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1?token=abcdefgh1234", VERSIONS).ticket).toBeUndefined();
  });

  it("takes the first ticket when several are sent", () => {
    expect(parseTerminalRoute("/api/v1/ssh-terminal/h1?ticket=first12345&ticket=second1234", VERSIONS).ticket).toBe("first12345");
  });

  it("passes a malformed ticket on as sent (TICKET_SHAPE judges it)", () => {
    const route = parseTerminalRoute("/api/v1/ssh-terminal/h1?ticket=a.b", VERSIONS);
    expect(route.ticket).toBe("a.b");
    expect(TICKET_SHAPE.test(route.ticket!)).toBe(false);
  });
});

describe("TICKET_SHAPE", () => {
  it("accepts 8-256 URL-safe characters", () => {
    for (const ok of ["abcdefgh", "A-Z_a-z0-9", "x".repeat(256), "3q2-7wEAAAA_bb"]) expect(TICKET_SHAPE.test(ok), ok).toBe(true);
  });

  it("refuses short, long, padded or non-URL-safe values", () => {
    for (const bad of ["", "abcdefg", "x".repeat(257), "abcdefgh=", "abc.defgh", "abc defgh", "abc/defgh", "abc+defgh", "abcdefgh\n", "ab%2Ecdefgh"]) {
      expect(TICKET_SHAPE.test(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("parseTerminalRoute: refusals", () => {
  it("refuses any other path with NOT_FOUND (404)", () => {
    for (const url of [
      undefined,
      "",
      "/",
      "/api/v1/ssh-terminal",
      "/api/v1/ssh-terminal/",
      "/api/v1/ssh-terminal//",
      "/api/v1/ssh-terminal/h1/extra",
      "/api/v1/ssh-terminal/h1//",
      "/api/v1/agents/ws",
      "/api/ssh-terminal/h1",
      "/ssh-terminal/h1",
      "/api/v1/ssh-terminals/h1",
      "/API/v1/ssh-terminal/h1",
      "/prefix/api/v1/ssh-terminal/h1",
    ]) {
      const error = refusal(url);
      expect(error.code, String(url)).toBe("NOT_FOUND");
      expect(error.status).toBe(404);
    }
  });

  it("refuses a request target that is not an absolute path (//authority/…) with NOT_FOUND", () => {
    expect(refusal("//evil.example/api/v1/ssh-terminal/h1").code).toBe("NOT_FOUND");
  });

  it("refuses a version not served with UNSUPPORTED_API_VERSION (404), checked before the host id", () => {
    for (const url of ["/api/v2/ssh-terminal/h1", "/api/v0/ssh-terminal/h1", "/api/latest/ssh-terminal/h1", "/api/v2/ssh-terminal/a.b"]) {
      const error = refusal(url);
      expect(error.code, url).toBe("UNSUPPORTED_API_VERSION");
      expect(error.status).toBe(404);
    }
    expect(refusal("/api/v1/ssh-terminal/h1", ["v2"]).code).toBe("UNSUPPORTED_API_VERSION");
  });

  it("keeps a long unserved version out of the message", () => {
    const error = refusal(`/api/v${"9".repeat(500)}/ssh-terminal/h1`);
    expect(error.code).toBe("UNSUPPORTED_API_VERSION");
    expect(error.message.length).toBeLessThan(100);
  });

  it("refuses host ids that could reach a NATS subject with HOST_NOT_FOUND (404)", () => {
    for (const id of [
      "a.b",
      "*",
      ">",
      "a*",
      "h1.>",
      "a%20b",
      "a b",
      "a%2Eb",
      "a%2eb",
      "%2A",
      "%3E",
      "a%2Fb",
      "a%00b",
      "a%0Ab",
      "%E2%82%AC",
      "x".repeat(129),
      "%", // not decodable
      "a%zz",
    ]) {
      const error = refusal(`/api/v1/ssh-terminal/${id}`);
      expect(error.code, id).toBe("HOST_NOT_FOUND");
      expect(error.status).toBe(404);
    }
  });

  it("never returns a host id for a dot segment (%2e%2e resolves away: NOT_FOUND)", () => {
    expect(refusal("/api/v1/ssh-terminal/%2e%2e").status).toBe(404);
    expect(refusal("/api/v1/ssh-terminal/.").status).toBe(404);
  });
});
