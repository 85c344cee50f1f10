/** The pure half of the start-up policy for an existing stream or bucket: what changes, what is kept. */
import { describe, expect, it } from "vitest";
import { RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream";
import { planStreamReconciliation } from "@patchmon-ws/service-kit";

const SECOND = 1e9;
const current = {
  name: "KV_x",
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  max_age: 60 * SECOND,
  duplicate_window: 60 * SECOND,
  max_bytes: -1,
  max_msg_size: -1,
  max_msgs_per_subject: 1,
  num_replicas: 1,
} as StreamConfig;

describe("planStreamReconciliation", () => {
  it("changes nothing when the stream has its configured settings, and ignores settings not configured", () => {
    expect(planStreamReconciliation(current, { max_age: 60 * SECOND, num_replicas: 1 })).toEqual({ update: {}, changed: {}, kept: {} });
  });

  it("updates every changeable setting that differs, from → to", () => {
    const plan = planStreamReconciliation(current, { max_age: 120 * SECOND, max_bytes: 1024, max_msg_size: 64, max_msgs_per_subject: 5, num_replicas: 3 });
    expect(plan.update).toEqual({ max_age: 120 * SECOND, max_bytes: 1024, max_msg_size: 64, max_msgs_per_subject: 5, num_replicas: 3 });
    expect(plan.changed.max_age).toEqual({ from: 60 * SECOND, to: 120 * SECOND });
    expect(plan.kept).toEqual({});
  });

  it("cuts the duplicate window to a lowered max age, and leaves it under a raised one", () => {
    expect(planStreamReconciliation(current, { max_age: 5 * SECOND }).update).toEqual({ max_age: 5 * SECOND, duplicate_window: 5 * SECOND });
    expect(planStreamReconciliation(current, { max_age: 0 }).update).toEqual({ max_age: 0 });
  });

  it("keeps the storage type and retention, reporting them, and never sends them", () => {
    const plan = planStreamReconciliation(current, { storage: StorageType.Memory, retention: RetentionPolicy.Workqueue, max_age: 60 * SECOND });
    expect(plan.update).toEqual({});
    expect(plan.kept).toEqual({
      storage: { current: StorageType.File, configured: StorageType.Memory },
      retention: { current: RetentionPolicy.Limits, configured: RetentionPolicy.Workqueue },
    });
  });
});
