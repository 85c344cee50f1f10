import { describe, expect, it } from "vitest";
import { PortInUseError, withFreePort } from "@patchmon-ws/stack";

describe("withFreePort", () => {
  it("tries another port when the bind fails with PortInUseError", async () => {
    const tried: number[] = [];
    const port = await withFreePort(async (p) => {
      tried.push(p);
      if (tried.length < 3) throw new PortInUseError(p);
      return p;
    });
    expect(tried).toHaveLength(3);
    expect(port).toBe(tried[2]);
  });

  it("gives up after the given attempts, and never retries other errors", async () => {
    let calls = 0;
    await expect(withFreePort(async (p) => (calls++, Promise.reject(new PortInUseError(p))), 2)).rejects.toBeInstanceOf(PortInUseError);
    expect(calls).toBe(2);
    calls = 0;
    await expect(withFreePort(async () => (calls++, Promise.reject(new Error("boom"))))).rejects.toThrow("boom");
    expect(calls).toBe(1);
  });
});
