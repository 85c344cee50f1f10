import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  AGENT_TO_SERVER_TYPES,
  CLOSE_CODE_DESCRIPTIONS,
  BoardServerMessages,
  CloseCode,
  ErrorCatalogue,
  STATUS_STREAM_EVENTS,
  TERMINAL_CLIENT_TYPES,
  TERMINAL_SERVER_TYPES,
  TerminalErrorCatalogue,
  AUDIT_EVENT_KINDS,
  OBSERVED_CLOSE_CODE_DESCRIPTIONS,
  ObservedCloseCode,
  SERVER_TO_AGENT_TYPES,
  type CloseCodeName,
} from "@patchmon-ws/protocol";

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../../../${path}`, import.meta.url)), "utf8");

describe("the docs match the protocol package", () => {
  it("documents every close code with its name and sentence", () => {
    const architecture = read("docs/architecture.md");
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(architecture).toContain(`| ${code} | ${name} | ${CLOSE_CODE_DESCRIPTIONS[name as CloseCodeName]} |`);
    }
  });

  it("documents every observed close code and every error code with its status and message", () => {
    const architecture = read("docs/architecture.md");
    for (const [name, code] of Object.entries(ObservedCloseCode)) {
      expect(architecture).toContain(`| ${code} | ${name} | ${OBSERVED_CLOSE_CODE_DESCRIPTIONS[name as keyof typeof ObservedCloseCode]} |`);
    }
    for (const [code, { status, message }] of Object.entries(ErrorCatalogue)) {
      expect(architecture).toContain(`| \`${code}\` | ${status} | ${message} |`);
    }
  });

  it("documents every Bull Board event-socket message and every status-stream event", () => {
    const protocol = read("docs/protocol.md");
    for (const type of [...Object.keys(BoardServerMessages), "subscribe"]) expect(protocol).toContain(`| \`${type}\` |`);
    for (const event of STATUS_STREAM_EVENTS) expect(protocol).toContain(`| \`${event}\` |`);
  });

  it("documents every agent message type", () => {
    const protocol = read("docs/protocol.md");
    for (const type of [...SERVER_TO_AGENT_TYPES, ...AGENT_TO_SERVER_TYPES]) expect(protocol).toContain(`| \`${type}\` |`);
  });

  it("documents every terminal message, every terminal error code with its close code and sentence, and every audit kind", () => {
    const protocol = read("docs/protocol.md");
    for (const type of [...TERMINAL_CLIENT_TYPES, ...TERMINAL_SERVER_TYPES]) expect(protocol).toContain(`| \`${type}\` |`);
    for (const [code, { close, message }] of Object.entries(TerminalErrorCatalogue)) {
      expect(protocol).toContain(`| \`${code}\` | ${close ?? "—"} | ${message} |`);
    }
    for (const kind of AUDIT_EVENT_KINDS) expect(protocol).toContain(`\`${kind}\``);
  });
});
