import { describe, expect, it } from "vitest";
import { CodedError, type HostRecord } from "@patchmon-ws/protocol";
import { LimitedSources, type AuthClient } from "@patchmon-ws/service-kit";
import { AgentAuthenticator } from "../src/connection/agent-authenticator.js";
import { counterValue, testMetrics } from "./fakes.js";

const credentials = { apiId: "patchmon_abc", apiKey: "key" };
const host = { id: "h1", apiId: "patchmon_abc" } as HostRecord;

/** An auth client whose verifyAgent answers from a script, counting the calls. */
function scriptedAuth(answers: (() => HostRecord)[]) {
  const calls: string[] = [];
  const auth = {
    verifyAgent: async (_apiId: string, _apiKey: string, source: string) => {
      calls.push(source);
      const next = answers.shift();
      if (!next) throw new Error("unexpected auth call");
      return next();
    },
  } as unknown as AuthClient;
  return { auth, calls };
}

async function refusal(promise: Promise<unknown>): Promise<CodedError> {
  try {
    await promise;
  } catch (err) {
    return err as CodedError;
  }
  throw new Error("expected a refusal");
}

describe("AgentAuthenticator", () => {
  it("passes auth's RATE_LIMITED on with its Retry-After, then refuses that source without asking auth until it ends", async () => {
    let now = 1_000_000;
    const { auth, calls } = scriptedAuth([
      () => {
        throw new CodedError("INVALID_CREDENTIALS");
      },
      () => {
        throw new CodedError("RATE_LIMITED", undefined, { retryAfter: 30 });
      },
      () => host,
      () => host,
    ]);
    const metrics = testMetrics();
    const authenticator = new AgentAuthenticator(auth, { maxPending: 10 }, metrics, new LimitedSources(100, () => now));

    expect((await refusal(authenticator.verify(credentials, "203.0.113.1"))).code).toBe("INVALID_CREDENTIALS");
    const limited = await refusal(authenticator.verify(credentials, "203.0.113.1"));
    expect([limited.code, limited.status, limited.retryAfter]).toEqual(["RATE_LIMITED", 429, 30]);

    now += 10_000;
    const remembered = await refusal(authenticator.verify(credentials, "203.0.113.1"));
    expect([remembered.code, remembered.status, remembered.retryAfter]).toEqual(["RATE_LIMITED", 429, 20]);
    expect(calls).toHaveLength(2);
    expect(await authenticator.verify(credentials, "203.0.113.2")).toBe(host);

    now += 20_000;
    expect(await authenticator.verify(credentials, "203.0.113.1")).toBe(host);
    expect(calls).toEqual(["203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.1"]);
    expect(await counterValue(metrics, "authResults", { result: "rate_limited" })).toBe(2);
  });

  it("answers 503 OVERLOADED with Retry-After when too many checks wait for auth", async () => {
    let release!: () => void;
    const auth = { verifyAgent: () => new Promise<HostRecord>((resolve) => (release = () => resolve(host))) } as unknown as AuthClient;
    const authenticator = new AgentAuthenticator(auth, { maxPending: 1 }, testMetrics());
    const first = authenticator.verify(credentials, "a");
    const busy = await refusal(authenticator.verify(credentials, "b"));
    expect([busy.code, busy.status, busy.retryAfter]).toEqual(["OVERLOADED", 503, 1]);
    release();
    expect(await first).toBe(host);
  });
});
