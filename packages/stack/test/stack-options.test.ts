import { describe, expect, it } from "vitest";
import { discoverServices, parseScale } from "@patchmon-ws/stack";

describe("startStack's option helpers", () => {
  it("parses STACK_SCALE, naming a bad entry or an unknown service", () => {
    expect(parseScale("agent-ws=2, bullboard=1", ["auth", "agent-ws", "bullboard"])).toEqual({ "agent-ws": 2, bullboard: 1 });
    expect(parseScale(undefined, ["auth"])).toEqual({});
    expect(() => parseScale("agent-ws=0", ["agent-ws"])).toThrow(/bad entry "agent-ws=0"/);
    expect(() => parseScale("agent-ws", ["agent-ws"])).toThrow(/bad entry/);
    expect(() => parseScale("web=2", ["auth"])).toThrow(/web, which is not a service \(auth\)/);
  });

  it("finds every service with a main, auth first", () => {
    const services = discoverServices();
    expect(services[0]).toBe("auth");
    expect(services).toEqual(expect.arrayContaining(["agent-ws", "bullboard"]));
  });
});
