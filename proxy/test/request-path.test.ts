import { describe, expect, it } from "vitest";
import { CodedError } from "@patchmon-ws/protocol";
import { processRequestTarget } from "../src/request-path.js";

describe("processRequestTarget", () => {
  it("passes a clean path and its query through unchanged", () => {
    expect(processRequestTarget("/api/v1/agents/ws?x=1&y=2")).toEqual({ routingPath: "/api/v1/agents/ws", forwardUrl: "/api/v1/agents/ws?x=1&y=2" });
  });

  it.each([
    ["/api/v1/../v1/auth/login", "/api/v1/auth/login"],
    ["/api//v1/./auth", "/api/v1/auth"],
    ["/../../etc/passwd", "/etc/passwd"],
    ["/bullboard/", "/bullboard/"],
    ["//", "/"],
    ["/a/b/..", "/a"],
  ])("sanitises %s to %s (dot segments, duplicate slashes; a trailing slash kept)", (target, path) => {
    expect(processRequestTarget(target).forwardUrl).toBe(path);
    expect(processRequestTarget(target).routingPath).toBe(path);
  });

  it("decodes unreserved escapes before sanitising, so %2e%2e cannot smuggle a traversal", () => {
    expect(processRequestTarget("/api/v1/%2e%2e/%2E%2E/bullboard").forwardUrl).toBe("/bullboard");
    expect(processRequestTarget("/%61pi/v1/auth").routingPath).toBe("/api/v1/auth");
  });

  it("routes on decoded non-reserved escapes but forwards them encoded (upper-cased)", () => {
    expect(processRequestTarget("/web/a%20b%c3%a9")).toEqual({ routingPath: "/web/a bé", forwardUrl: "/web/a%20b%C3%A9" });
  });

  it("keeps reserved escapes encoded in the routing path", () => {
    expect(processRequestTarget("/a%3Ab%40c").routingPath).toBe("/a%3Ab%40c");
  });

  it("turns query semicolons into ampersands, as Traefik's proxy does", () => {
    expect(processRequestTarget("/a?x=1;y=2").forwardUrl).toBe("/a?x=1&y=2");
  });

  it.each(["%2F", "%2f", "%5C", "%00", "%3B", "%25", "%3F", "%23"])("rejects the encoded character %s with 400", (escape) => {
    const run = () => processRequestTarget(`/api/v1/agents${escape}ws`);
    expect(run).toThrow(CodedError);
    expect(run).toThrow(/rejected encoded character/);
    try {
      run();
    } catch (err) {
      expect((err as CodedError).status).toBe(400);
      expect((err as CodedError).code).toBe("BAD_REQUEST");
    }
  });

  it.each(["/a%", "/a%2", "/a%zz"])("rejects the malformed escape in %s", (target) => {
    expect(() => processRequestTarget(target)).toThrow(/invalid percent-encoding/);
  });

  it("rejects targets that are not absolute paths", () => {
    expect(() => processRequestTarget("*")).toThrow(/absolute path/);
    expect(() => processRequestTarget("http://example.com/")).toThrow(/absolute path/);
  });
});
