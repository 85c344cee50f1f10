import { describe, expect, it } from "vitest";
import { canonicalHost, Router } from "../src/router.js";
import { ROUTES, SERVICE_NAMES, SERVICE_PORTS, type RouteDefinition } from "../src/routes.js";

const router = new Router(ROUTES);
const routeOf = (path: string) => router.match({ path, host: "localhost" });

describe("the route table", () => {
  it.each([
    ["/api/v1/agents/ws", "agent-ws", "agent-ws"],
    ["/api/v2/agents/ws", "agent-ws", "agent-ws"],
    ["/api/v1/agents/commands/abc", "agent-ws", "agent-ws"],
    ["/api/v1/ssh-terminal/host-1", "terminal-ws", "terminal-ws"],
    ["/bullboard", "bullboard", "bullboard"],
    ["/bullboard/api/queues", "bullboard", "bullboard"],
    ["/bullboardx", "bullboard", "bullboard"],
    ["/api/v1/auth/login", "auth", "auth"],
    ["/api/v1/auth/ticket", "auth", "auth"],
    ["/api/v1/users/42", "auth", "auth"],
    ["/api/v1/hosts", "auth", "auth"],
    ["/api/v1/nothing", "api-not-found", "auth"],
    ["/api/v1/agents", "api-not-found", "auth"],
    ["/api/", "api-not-found", "auth"],
    ["/", "web", "web"],
    ["/index.html", "web", "web"],
    ["/apix", "web", "web"],
  ])("%s → route %s, service %s", (path, name, service) => {
    const route = routeOf(path);
    expect(route?.name).toBe(name);
    expect(route?.service).toBe(service);
  });

  it("never sends an /api/ path to the web UI", () => {
    for (const path of ["/api/v1/nothing", "/api/v9/whatever/deep", "/api/x"]) expect(routeOf(path)?.service).not.toBe("web");
  });

  it("has distinct names and distinct priorities (Traefik leaves equal priorities unordered)", () => {
    expect(new Set(ROUTES.map((r) => r.name)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map((r) => r.priority)).size).toBe(ROUTES.length);
  });

  it("gives web the lowest priority and a port to every service", () => {
    expect(Math.min(...ROUTES.map((r) => r.priority))).toBe(ROUTES.find((r) => r.name === "web")!.priority);
    for (const service of SERVICE_NAMES) expect(SERVICE_PORTS[service]).toBeGreaterThan(0);
  });
});

describe("Router", () => {
  const route = (name: string, rule: string, priority: number): RouteDefinition => ({ name, rule, priority, service: "web", description: name });

  it("tries higher priorities first, whatever the declaration order", () => {
    const r = new Router([route("low", "PathPrefix(`/`)", 1), route("high", "PathPrefix(`/a`)", 10)]);
    expect(r.match({ path: "/a/b", host: "" })?.name).toBe("high");
    expect(r.match({ path: "/b", host: "" })?.name).toBe("low");
    expect(r.routes.map((x) => x.name)).toEqual(["high", "low"]);
  });

  it("uses the rule length when priority is 0, as Traefik does", () => {
    const r = new Router([route("short", "PathPrefix(`/a`)", 0), route("long", "PathPrefix(`/a/b`)", 0)]);
    expect(r.match({ path: "/a/b/c", host: "" })?.name).toBe("long");
  });

  it("answers undefined when nothing matches", () => {
    expect(new Router([route("a", "Path(`/a`)", 1)]).match({ path: "/b", host: "" })).toBeUndefined();
  });

  it("refuses duplicate names and bad rules at construction", () => {
    expect(() => new Router([route("a", "Path(`/a`)", 1), route("a", "Path(`/b`)", 2)])).toThrow("duplicate route name");
    expect(() => new Router([route("a", "Nope(`/a`)", 1)])).toThrow("unsupported matcher");
  });
});

describe("canonicalHost", () => {
  it.each([
    ["Example.COM:8443", "example.com"],
    ["example.com", "example.com"],
    ["127.0.0.1:443", "127.0.0.1"],
    ["[::1]:8443", "::1"],
    ["[::1]", "::1"],
    ["::1", "::1"],
    [undefined, ""],
  ])("%s → %s", (input, expected) => {
    expect(canonicalHost(input)).toBe(expected);
  });
});
