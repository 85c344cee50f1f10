import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { AuthSubjects, CodedError, VerifyAgentRequest, VerifyAgentsRequest, errorReply } from "@patchmon-ws/protocol";
import { AuthClient, createLogger, requestJson, serveJson, unwrapReply } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";

let nats: TestNatsServer;
let nc: NatsConnection;
const Reply = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), sum: z.number() }),
  z.object({ ok: z.literal(false), code: z.string(), error: z.string(), retryAfter: z.number().optional() }),
]);

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  serveJson(nc, {
    subject: "test.add",
    request: z.object({ a: z.number(), b: z.number() }),
    logger: createLogger("test", "silent"),
    handler: ({ a, b }) => {
      if (a < 0) throw new CodedError("FORBIDDEN", "no negatives");
      if (a === 13) throw new Error("unlucky internals");
      return { ok: true, sum: a + b };
    },
  });
});

afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
});

describe("serveJson / requestJson", () => {
  it("answers valid requests", async () => {
    expect(unwrapReply(await requestJson(nc, "test.add", { a: 1, b: 2 }, Reply))).toEqual({ ok: true, sum: 3 });
  });

  it("answers invalid requests with VALIDATION_FAILED and CodedErrors with their code", async () => {
    expect(await requestJson(nc, "test.add", { a: "x" }, Reply)).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
    expect(await requestJson(nc, "test.add", { a: -1, b: 0 }, Reply)).toEqual(errorReply("FORBIDDEN", "no negatives"));
    expect(await requestJson(nc, "test.add", { a: 13, b: 0 }, Reply)).toEqual(errorReply("INTERNAL"));
    expect(() => unwrapReply(errorReply("FORBIDDEN", "no negatives"))).toThrow(CodedError);
  });

  it("turns no responders into DEPENDENCY_UNAVAILABLE with Retry-After, never a credential error", async () => {
    const error = await requestJson(nc, "test.nobody", {}, Reply).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodedError);
    expect(error).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE", status: 503, retryAfter: 2 });
  });
});

describe("AuthClient.verifyAgent", () => {
  it("falls back to one request each when auth does not serve the batch subject (an older release)", async () => {
    const asked: string[] = [];
    const older = serveJson(nc, {
      subject: AuthSubjects.verifyAgent,
      request: VerifyAgentRequest,
      logger: createLogger("test", "silent"),
      handler: ({ apiId }) => {
        asked.push(apiId);
        if (apiId === "patchmon_bad") throw new CodedError("INVALID_CREDENTIALS");
        return { ok: true, host: { id: `host-${apiId.slice(-1)}`, apiId, name: apiId, ssh: null, hostKey: null, createdAt: 0, updatedAt: 0 } };
      },
    });
    try {
      const client = new AuthClient(nc, 2000);
      const outcomes = await Promise.allSettled([client.verifyAgent("patchmon_1", "k", "192.0.2.1"), client.verifyAgent("patchmon_bad", "k", "192.0.2.1")]);
      expect(outcomes[0]).toMatchObject({ status: "fulfilled", value: { id: "host-1" } });
      expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { code: "INVALID_CREDENTIALS" } });
      expect(asked).toEqual(["patchmon_1", "patchmon_bad"]);
    } finally {
      older.unsubscribe();
    }
  });
});

describe("AuthClient.verifyAgent while auth is busy", () => {
  it("keeps at most four messages in flight; the verifications asked for meanwhile leave together in one", async () => {
    const asked: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const host = (apiId: string) => ({ id: `host-${apiId.slice(-1)}`, apiId, name: apiId, ssh: null, hostKey: null, createdAt: 0, updatedAt: 0 });
    const logger = createLogger("test", "silent");
    const single = serveJson(nc, {
      subject: AuthSubjects.verifyAgent,
      request: VerifyAgentRequest,
      logger,
      handler: async ({ apiId }) => {
        asked.push(1);
        await held;
        return { ok: true, host: host(apiId) };
      },
    });
    const batch = serveJson(nc, {
      subject: AuthSubjects.verifyAgents,
      request: VerifyAgentsRequest,
      logger,
      handler: ({ agents }) => {
        asked.push(agents.length);
        return { ok: true, results: agents.map(({ apiId }) => ({ ok: true, host: host(apiId) })) };
      },
    });
    try {
      const client = new AuthClient(nc, 2000);
      const turn = () => new Promise((r) => setImmediate(r));
      const verifications: Promise<unknown>[] = [];
      for (let i = 0; i < 7; i++) {
        verifications.push(client.verifyAgent(`patchmon_${i}`, "k", "192.0.2.1"));
        await turn();
      }
      await nc.flush();
      expect(asked).toEqual([1, 1, 1, 1]);
      release();
      const hosts = (await Promise.all(verifications)) as { id: string }[];
      expect(hosts.map((h) => h.id)).toEqual(["host-0", "host-1", "host-2", "host-3", "host-4", "host-5", "host-6"]);
      expect(asked).toEqual([1, 1, 1, 1, 3]);
    } finally {
      single.unsubscribe();
      batch.unsubscribe();
    }
  });
});
