/**
 * The NATS contract against its committed snapshot (packages/protocol/contract/nats-contract.json): the contract the
 * code declares now must be an additive change of it, so a replica of this release works beside replicas of the
 * release that wrote the snapshot. And the checker itself, on small synthetic schema pairs in both directions.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkContractCompatibility, checkSchemaCompatibility, formatIssues } from "../src/contract/compatibility.js";
import { buildNatsContract, isWildcardPattern, subjectPattern, type ContractSnapshot, type JsonSchema, type NatsContract } from "../src/contract/nats-contract.js";

const SNAPSHOT = fileURLToPath(new URL("../contract/nats-contract.json", import.meta.url));
const snapshot = JSON.parse(readFileSync(SNAPSHOT, "utf8")) as ContractSnapshot;
const contract = buildNatsContract();

function contractOf(snap: ContractSnapshot): NatsContract {
  const { generatedBy: _g, changes: _c, ...rest } = snap;
  return rest;
}

const json = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { io: "input" }) as JsonSchema;
/** Issues when a receiver moves from `previous` to `next`. */
const issues = (previous: z.ZodType, next: z.ZodType) => checkSchemaCompatibility(json(previous), json(next));

describe("the NATS contract", () => {
  it("is an additive change of the committed snapshot (run `npm run contract:snapshot -w @patchmon-ws/protocol -- \"note\"` after an additive change)", () => {
    const found = checkContractCompatibility(contractOf(snapshot), contract);
    expect(found, `breaking changes of the NATS contract:\n${formatIssues(found)}`).toEqual([]);
  });

  it("records in the snapshot why it changed", () => {
    expect(snapshot.changes.length).toBeGreaterThan(0);
    for (const change of snapshot.changes) {
      expect(change.note.trim()).not.toBe("");
      expect(change.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      // A deliberate breaking change says so and names what it broke.
      expect(change.note.startsWith("BREAKING: "), change.note).toBe(change.breaking !== undefined);
      if (change.breaking) expect(change.breaking.length).toBeGreaterThan(0);
    }
  });

  it("covers every subject builder, stream and bucket of the protocol package, and every subject the services publish to carries a declared message", () => {
    expect(Object.keys(contract.subjects)).toEqual(
      expect.arrayContaining(["AuthSubjects.verifyAccess", "AgentSubjects.replicaCommand", "RelaySubjects.input", "TerminalSubjects.recording"]),
    );
    const carried = new Set(Object.values(contract.messages).flatMap((m) => m.on));
    const bare = Object.entries(contract.subjects).filter(([name, s]) => !isWildcardPattern(s.pattern) && !carried.has(name));
    expect(bare.map(([name]) => name)).toEqual([]);
    for (const name of [...Object.keys(contract.streams), ...Object.keys(contract.buckets).filter((b) => b.startsWith("AgentBuckets."))]) {
      expect(carried.has(name), name).toBe(true);
    }
  });

  it("writes subject builders as patterns, with the closed sets of their typed parameters", () => {
    expect(contract.subjects["AuthSubjects.revokedUser"]).toEqual({ pattern: "auth.v1.revoked.user.{userId}" });
    expect(contract.subjects["AgentSubjects.fromAgent"]!.pattern).toBe("agents.v1.from.{hostId}.{type}");
    expect(contract.subjects["AgentSubjects.fromAgent"]!.values!.type).toContain("docker_status");
    expect(contract.subjects["TerminalSubjects.audit"]!.values!.kind).toContain("session_ended");
    expect(subjectPattern("x", (a: string, b: string) => `p.${a}.q.${b}`)).toEqual({ pattern: "p.{a}.q.{b}" });
    expect(() => subjectPattern("x", (id: string) => `p.${id.length}`)).toThrow(/does not appear/);
  });

  it("holds a JSON Schema, from zod, for every message that crosses NATS between services", () => {
    for (const name of [
      "VerifyAccessRequest",
      "VerifyAccessReply",
      "ConsumeTicketRequest",
      "ConsumeTicketReply",
      "VerifyAgentRequest",
      "VerifyAgentReply",
      "VerifySessionRequest",
      "VerifySessionReply",
      "GetHostRequest",
      "GetHostReply",
      "PinHostKeyRequest",
      "PinHostKeyReply",
      "RevocationEvent",
      "CommandDeliveryRequest",
      "CommandDeliveryReply",
      "BatchDeliveryRequest",
      "BatchDeliveryReply",
      "AgentConnectionEvent",
      "AgentMessageEnvelope",
      "PresenceRecord",
      "RelayOpenRequest",
      "RelayOpenReply",
      "RelayInMessage",
      "RelayOutMessage",
      "TerminalAuditEvent",
    ]) {
      expect(contract.messages[name]?.schema, name).toBeTypeOf("object");
    }
    expect(contract.messages.VerifyAccessRequest!.schema).toMatchObject({ type: "object", required: ["token"] });
  });

  it("fails on a removed or renamed subject, a removed enum value of a subject parameter, a removed message, a changed bucket", () => {
    const previous = contractOf(snapshot);
    const renamed = structuredClone(contract);
    renamed.subjects["AuthSubjects.verifyAccess"] = { pattern: "auth.v2.verify.access" };
    delete renamed.subjects["AuthSubjects.getHost"];
    renamed.subjects["TerminalSubjects.audit"]!.values!.kind = ["access_granted"];
    delete renamed.messages.PinHostKeyReply;
    renamed.buckets["AuthBuckets.users"] = "auth_users_v2";
    const found = checkContractCompatibility(previous, renamed).map((i) => i.path);
    expect(found).toEqual(
      expect.arrayContaining([
        "subjects.AuthSubjects.verifyAccess",
        "subjects.AuthSubjects.getHost",
        "subjects.TerminalSubjects.audit",
        "messages.PinHostKeyReply",
        "buckets.AuthBuckets.users",
      ]),
    );
  });

  it("passes a new subject, a new message and a new optional field", () => {
    const grown = structuredClone(contract);
    grown.subjects["AuthSubjects.verifyDevice"] = { pattern: "auth.v1.verify.device" };
    grown.messages.VerifyDeviceRequest = { role: "request", on: ["AuthSubjects.verifyDevice"], schema: json(z.object({ id: z.string() })) };
    const request = grown.messages.VerifyAccessRequest!.schema as { properties: Record<string, unknown> };
    request.properties.deviceId = { type: "string" };
    expect(checkContractCompatibility(contract, grown)).toEqual([]);
    // ... and the same change read backwards is a removal.
    expect(checkContractCompatibility(grown, contract).map((i) => i.path)).toEqual(
      expect.arrayContaining(["subjects.AuthSubjects.verifyDevice", "messages.VerifyDeviceRequest", "messages.VerifyAccessRequest.deviceId"]),
    );
  });
});

describe("the schema compatibility checker", () => {
  /** [what, previous, next, next is additive, previous is additive of next] */
  const pairs: [string, z.ZodType, z.ZodType, boolean, boolean][] = [
    ["a new optional field / a removed field", z.object({ a: z.string() }), z.object({ a: z.string(), b: z.string().optional() }), true, false],
    ["a new required field / a removed field", z.object({ a: z.string() }), z.object({ a: z.string(), b: z.string() }), false, false],
    ["optional → required / required → optional", z.object({ a: z.string().optional() }), z.object({ a: z.string() }), false, true],
    ["a default makes a field optional for senders / dropping it makes it required", z.object({ a: z.number() }), z.object({ a: z.number().default(1) }), true, false],
    ["string → enum / enum → string", z.object({ a: z.string() }), z.object({ a: z.enum(["x", "y"]) }), false, true],
    ["string → literal", z.string(), z.literal("x"), false, true],
    ["a new enum value / a removed one", z.enum(["x", "y"]), z.enum(["x", "y", "z"]), true, false],
    ["a wider max / a tighter one", z.string().max(10), z.string().max(20), true, false],
    ["a lower min / a higher one", z.number().min(1), z.number().min(0), true, false],
    ["a new max / a dropped one", z.number(), z.number().max(5), false, true],
    ["integer → number / number → integer", z.number().int(), z.number(), true, false],
    ["nullable added / removed", z.string(), z.string().nullable(), true, false],
    ["a new union branch / a removed one", z.union([z.string(), z.number()]), z.union([z.string(), z.number(), z.boolean()]), true, false],
    [
      "a new discriminated-union variant / a removed one",
      z.discriminatedUnion("type", [z.object({ type: z.literal("a"), x: z.string() }), z.object({ type: z.literal("b") })]),
      z.discriminatedUnion("type", [z.object({ type: z.literal("a"), x: z.string() }), z.object({ type: z.literal("b") }), z.object({ type: z.literal("c") })]),
      true,
      false,
    ],
    ["a new pattern / a dropped one", z.string(), z.string().regex(/^[a-z]+$/), false, true],
    ["a changed pattern, both ways", z.string().regex(/^[a-z]+$/), z.string().regex(/^[a-z0-9]+$/), false, false],
    ["a nested field removed deep inside / added as required", z.object({ o: z.looseObject({ a: z.string(), b: z.number() }) }), z.object({ o: z.looseObject({ a: z.string() }) }), false, false],
    ["a nested optional field added / removed", z.object({ o: z.looseObject({ a: z.string() }) }), z.object({ o: z.looseObject({ a: z.string(), b: z.number().optional() }) }), true, false],
    ["array maxItems wider / tighter", z.array(z.string()).max(3), z.array(z.string()).max(10), true, false],
    ["array items narrowed / widened", z.array(z.string()), z.array(z.enum(["a"])), false, true],
    ["a tuple's element widened / narrowed", z.tuple([z.number(), z.enum(["o", "i"])]), z.tuple([z.number(), z.enum(["o", "i", "r"])]), true, false],
    ["a strict object / a loose one", z.looseObject({ a: z.string() }), z.strictObject({ a: z.string() }), false, true],
    ["number → string (and back)", z.number(), z.string(), false, false],
    ["unchanged", z.object({ a: z.string().min(1).max(3), b: z.array(z.number()) }), z.object({ a: z.string().min(1).max(3), b: z.array(z.number()) }), true, true],
  ];

  it.each(pairs)("%s", (_what, previous, next, forward, backward) => {
    expect(issues(previous, next).length === 0, formatIssues(issues(previous, next))).toBe(forward);
    expect(issues(next, previous).length === 0, formatIssues(issues(next, previous))).toBe(backward);
  });

  it("names where and why", () => {
    expect(issues(z.object({ a: z.object({ b: z.enum(["x", "y"]) }) }), z.object({ a: z.object({ b: z.enum(["x"]) }) }))).toEqual([
      { path: "$.a.b", problem: 'value "y" is no longer accepted' },
    ]);
    expect(issues(z.object({ a: z.string() }), z.object({}))).toEqual([{ path: "$.a", problem: "field removed (a receiver of the old release may read it)" }]);
    expect(issues(z.object({}), z.object({ b: z.string() }))).toEqual([
      { path: "$.b", problem: "new required field (a sender of the old release does not send it)" },
    ]);
    expect(issues(z.string().max(10), z.string().max(5))[0]!.problem).toMatch(/maxLength lowered from 10 to 5/);
  });

  it("resolves $ref and $defs", () => {
    const node: JsonSchema = { type: "object", properties: { v: { type: "string" } }, required: ["v"] };
    const previous: JsonSchema = { $defs: { node }, type: "object", properties: { a: { $ref: "#/$defs/node" } } };
    const next: JsonSchema = { $defs: { node: { ...node, properties: { v: { type: "string", maxLength: 3 } } } }, type: "object", properties: { a: { $ref: "#/$defs/node" } } };
    expect(checkSchemaCompatibility(previous, previous)).toEqual([]);
    expect(checkSchemaCompatibility(previous, next).map((i) => i.path)).toEqual(["$.a.v"]);
  });

  it("counts a keyword it does not model as a narrowing when it appears", () => {
    expect(checkSchemaCompatibility({ type: "string" }, { type: "string", not: { const: "x" } })[0]!.problem).toMatch(/"not"/);
  });
});
