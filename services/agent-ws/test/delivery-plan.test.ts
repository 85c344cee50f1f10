import { describe, expect, it } from "vitest";
import { planDelivery } from "../src/commands/delivery-plan.js";

const t = (hostId: string) => ({ hostId, commandId: `c-${hostId}` });

describe("planDelivery", () => {
  it("splits targets into local, per-replica batches and direct", () => {
    const owners: Record<string, string | null> = { b: "r2", c: "r2", d: "r3", e: null, f: "me" };
    const plan = planDelivery([t("a"), t("b"), t("c"), t("d"), t("e"), t("f")], (h) => h === "a", (h) => owners[h] ?? null, "me");
    expect(plan.local.map((x) => x.hostId)).toEqual(["a"]);
    expect(plan.batches).toEqual([
      { replica: "r2", targets: [t("b"), t("c")] },
      { replica: "r3", targets: [t("d")] },
    ]);
    // unknown owner, or presence naming this replica although it holds no such agent: ask by host subject
    expect(plan.direct.map((x) => x.hostId)).toEqual(["e", "f"]);
  });

  it("chunks batches", () => {
    const targets = Array.from({ length: 2500 }, (_, i) => t(`h${i}`));
    const plan = planDelivery(targets, () => false, () => "r2", "me", 1000);
    expect(plan.batches.map((b) => b.targets.length)).toEqual([1000, 1000, 500]);
    expect(plan.batches.flatMap((b) => b.targets)).toEqual(targets);
  });
});
