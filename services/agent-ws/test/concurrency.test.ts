import { describe, expect, it } from "vitest";
import { mapLimit } from "../src/commands/concurrency.js";

describe("mapLimit", () => {
  it("keeps order and bounds concurrency", async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it("handles empty input", async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
