import { describe, expect, it } from "vitest";
import {
  AgentSubjects,
  AuthSubjects,
  NATS_SERVICES,
  RelaySubjects,
  SUBJECT_CATALOGUE,
  TerminalSubjects,
  subjectToken,
  type SubjectDeclaration,
} from "@patchmon-ws/protocol";
import { subjectPattern } from "../src/contract/nats-contract.js";

const entries = Object.entries(SUBJECT_CATALOGUE).flatMap(([family, declarations]) =>
  Object.entries(declarations as Record<string, SubjectDeclaration>).map(([key, entry]) => ({ name: `${family}.${key}`, entry })),
);

const patternOf = (name: string, entry: SubjectDeclaration) =>
  typeof entry.subject === "string" ? entry.subject : subjectPattern(name, entry.subject as (...args: string[]) => string).pattern;

const isWildcard = (pattern: string) => pattern.split(".").some((token) => token === "*" || token === ">");

describe("the subject catalogue", () => {
  it("is what the subject objects serve, key for key", () => {
    const objects: Record<string, Record<string, unknown>> = { AuthSubjects, AgentSubjects, RelaySubjects, TerminalSubjects };
    expect(Object.keys(objects).sort()).toEqual(Object.keys(SUBJECT_CATALOGUE).sort());
    for (const [family, declarations] of Object.entries(SUBJECT_CATALOGUE)) {
      const served = objects[family]!;
      expect(Object.keys(served)).toEqual(Object.keys(declarations));
      for (const [key, entry] of Object.entries(declarations as Record<string, SubjectDeclaration>)) expect(served[key], `${family}.${key}`).toBe(entry.subject);
    }
  });

  it("names for every subject who publishes and who subscribes, among the services that speak NATS", () => {
    for (const { name, entry } of entries) {
      for (const service of [...entry.publishers, ...entry.subscribers]) expect(NATS_SERVICES, name).toContain(service);
      expect(["request", "event", "stream"], name).toContain(entry.use);
    }
    expect(SUBJECT_CATALOGUE.AuthSubjects.verifyAgent).toMatchObject({ use: "request", publishers: ["agent-ws"], subscribers: ["auth"], queue: "auth" });
    expect(SUBJECT_CATALOGUE.RelaySubjects.input).toMatchObject({ use: "stream", publishers: ["terminal-ws"], subscribers: ["agent-ws"] });
    expect(SUBJECT_CATALOGUE.AuthSubjects.revokedAll.subscribers).toEqual(expect.arrayContaining(["agent-ws", "terminal-ws", "bullboard"]));
  });

  it("has nobody publish on a wildcard, and a publisher and a responder for every concrete request subject", () => {
    for (const { name, entry } of entries) {
      const pattern = patternOf(name, entry);
      if (isWildcard(pattern)) {
        expect(entry.publishers, name).toEqual([]);
      } else if (entry.use === "request") {
        expect(entry.publishers.length, name).toBeGreaterThan(0);
        expect(entry.subscribers.length, name).toBeGreaterThan(0);
      } else {
        expect(entry.publishers.length, name).toBeGreaterThan(0);
      }
    }
  });

  it("builds subjects only from identifiers, one token each", () => {
    expect(subjectToken("host_1-a")).toBe("host_1-a");
    for (const bad of ["h.*", ">", "a b", "", "x".repeat(129)]) expect(() => subjectToken(bad)).toThrow(/refusing/);
    expect(() => AgentSubjects.replicaCommand("r.1")).toThrow(/refusing/);
    expect(() => RelaySubjects.input("s>")).toThrow(/refusing/);
    expect(() => TerminalSubjects.recording("s *")).toThrow(/refusing/);
    expect(() => AgentSubjects.fromAgent("h", "rm_rf" as never)).toThrow(/unknown agent message type/);
    expect(AgentSubjects.fromAgent("h-1", "docker_status")).toBe("agents.v1.from.h-1.docker_status");
  });
});
