// The auth core's behaviour suite on the in-memory store: no NATS at all.
import { InMemoryAuthStorage } from "../src/in-memory-auth-storage.js";
import { describeAuthCore } from "./auth-core.behaviour.js";

describeAuthCore({
  name: "the in-memory store",
  async fresh() {
    let shared: InMemoryAuthStorage | undefined;
    return {
      // Replicas of one process share its memory: every replica is the same store.
      replica: async (lifetimes) => (shared ??= new InMemoryAuthStorage(lifetimes)),
      dispose: async () => shared?.close(),
    };
  },
});
