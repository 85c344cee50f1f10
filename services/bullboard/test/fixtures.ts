import type { Principal } from "@patchmon-ws/protocol";

export function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    userId: "u1",
    username: "alice",
    role: "user",
    permissions: ["can_view_queues"],
    sessionId: "s1",
    expiresAt: Date.now() + 600_000,
    ...overrides,
  };
}

/** A promise with its resolvers, for driving async code step by step. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
