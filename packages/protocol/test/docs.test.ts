import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
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

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Every production source file (services, packages, the edge): where a close code can be sent from. */
function productionSources(): { path: string; text: string }[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir)).flatMap((name) => {
      const path = `${dir}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) return walk(path);
      return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
    });
  const roots = [
    ...["services", "packages"].flatMap((top) => readdirSync(join(ROOT, top)).map((name) => `${top}/${name}/src`)),
    "proxy/src",
  ].filter((dir) => statSync(join(ROOT, dir), { throwIfNoEntry: false })?.isDirectory());
  return roots.flatMap(walk).map((path) => ({ path, text: read(path) }));
}

/**
 * The close codes some production code sends: every `CloseCode.X` outside comments that is not compared with
 * (`code === CloseCode.X` reads a code, it does not send one).
 */
function sentCloseCodeNames(sources: { text: string }[]): Set<string> {
  const sent = new Set<string>();
  for (const { text } of sources) {
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
    for (const match of code.matchAll(/(===?|!==?)?\s*\bCloseCode\.([A-Z_]+)\b(\s*[!=]==?)?/g)) {
      if (!match[1] && !match[3]) sent.add(match[2]!);
    }
  }
  return sent;
}

/** Codes ws itself sends on the services' behalf, and what makes it do so. */
const SENT_BY_WS: Partial<Record<CloseCodeName, { why: string; source: string; evidence: RegExp }>> = {
  MESSAGE_TOO_BIG: {
    why: "ws closes a connection whose frame exceeds the server's maxPayload with 1009",
    source: "packages/service-kit/src/sockets/socket-server.ts",
    evidence: /maxPayload: options\.maxPayload/,
  },
};

/** The codes of the tables under docs/architecture.md's "## Close codes". */
function documentedCloseCodes(): number[] {
  const architecture = read("docs/architecture.md");
  const start = architecture.indexOf("\n## Close codes\n");
  expect(start, "docs/architecture.md has a \"## Close codes\" section").toBeGreaterThan(-1);
  const section = architecture.slice(start + 1).split(/\n## /)[0]!;
  return [...section.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
}

describe("the docs match the protocol package", () => {
  it("documents every close code with its name and sentence", () => {
    const architecture = read("docs/architecture.md");
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(architecture).toContain(`| ${code} | ${name} | ${CLOSE_CODE_DESCRIPTIONS[name as CloseCodeName]} |`);
    }
  });

  it("declares only close codes some service sends (a code no service sends belongs with the observed ones)", () => {
    const sent = sentCloseCodeNames(productionSources());
    for (const [name, byWs] of Object.entries(SENT_BY_WS)) {
      expect(read(byWs.source), byWs.why).toMatch(byWs.evidence);
      sent.add(name);
    }
    expect(Object.keys(CloseCode).filter((name) => !sent.has(name))).toEqual([]);
  });

  it("finds a code that is only compared with, or only named in a comment, unsent", () => {
    const sources = [
      { text: "// socket.close(CloseCode.REPLACED)\nif (code === CloseCode.NORMAL) return;\nif (CloseCode.IDLE_TIMEOUT !== code) return;" },
      { text: "/* CloseCode.HOST_DELETED */ socket.close(CloseCode.SESSION_LIMIT, \"full\"); const c = { close: CloseCode.TARGET_REFUSED };" },
    ];
    expect([...sentCloseCodeNames(sources)].sort()).toEqual(["SESSION_LIMIT", "TARGET_REFUSED"]);
  });

  it("documents no close code beyond those declared, and keeps sent and observed codes apart", () => {
    const declared = [...Object.values(CloseCode), ...Object.values(ObservedCloseCode)].map(Number);
    const documented = documentedCloseCodes();
    expect(documented.filter((code) => !declared.includes(code))).toEqual([]);
    expect([...documented].sort()).toEqual([...declared].sort());
    const sent = new Set<number>(Object.values(CloseCode));
    expect(Object.values(ObservedCloseCode).filter((code) => sent.has(code))).toEqual([]);
  });

  it("names only sent close codes where a service's docs list the codes it closes with", () => {
    const sent = new Set<number>(Object.values(CloseCode));
    const docs = ["docs/protocol.md", ...readdirSync(join(ROOT, "services")).map((name) => `services/${name}/README.md`)].filter((path) =>
      statSync(join(ROOT, path), { throwIfNoEntry: false })?.isFile(),
    );
    let lists = 0;
    for (const path of docs) {
      for (const paragraph of read(path).split(/\n\s*\n/)) {
        if (!/^(\*\*)?Close codes\b/.test(paragraph.trim())) continue;
        lists++;
        const named = [...paragraph.matchAll(/\b(1\d{3}|4\d{3})\b/g)].map((m) => Number(m[1]));
        expect(named.filter((code) => !sent.has(code)), `${path}: ${paragraph.slice(0, 60)}…`).toEqual([]);
      }
    }
    expect(lists).toBeGreaterThan(0);
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
