/**
 * The README's configuration tables against the code, both ways: every variable a schema reads is in its table (or,
 * for a service, in "Every service"), every variable a table documents is read, and every default a table states is
 * the schema's. Tables: every service, the edge (proxy/) and `npm start`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { commonConfigShape } from "@patchmon-ws/service-kit";
import { edgeConfigSchema } from "../proxy/src/config.js";
import { localStackConfigSchema } from "../scripts/local-stack-config.js";
import { agentWsConfigSchema } from "../services/agent-ws/src/config.js";
import { authConfigSchema } from "../services/auth/src/config.js";
import { bullboardConfigSchema } from "../services/bullboard/src/config.js";
import { terminalWsConfigSchema } from "../services/terminal-ws/src/config.js";
import { webConfigSchema } from "../services/web/src/config.js";

const README = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");

const EVERY_SERVICE = "Every service";
const EDGE = "proxy/ (the local TLS edge; Traefik in production)";
const NPM_START = "npm start (the local stack)";

interface Row {
  names: string[];
  /** The default cell of each name ("a / b" cells split; one default for several names applies to each). */
  defaults: string[];
}

/** The text of a `### heading` section, up to the next heading. */
function section(readme: string, heading: string): string {
  const start = readme.indexOf(`\n### ${heading}\n`);
  if (start === -1) throw new Error(`README has no "### ${heading}" section`);
  return readme.slice(start + 1).split(/\n#{2,3} /)[0]!;
}

/** The rows of the first table of a section: the variable names (backticked) and their default cells. */
function table(readme: string, heading: string): Row[] {
  const rows: Row[] = [];
  let inTable = false;
  for (const line of section(readme, heading).split("\n").slice(1)) {
    if (line.startsWith("| variable")) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    if (!line.startsWith("|")) break;
    if (line.startsWith("|---")) continue;
    const [nameCell = "", defaultCell = ""] = line.split(/(?<!\\)\|/).slice(1);
    const names = [...nameCell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    const cells = defaultCell.split(" / ").map((d) => d.trim());
    const defaults = cells.length === names.length ? cells : cells.length === 1 ? names.map(() => cells[0]!) : names.map(() => "");
    rows.push({ names, defaults });
  }
  return rows;
}

const documented = (readme: string, heading: string) => new Set(table(readme, heading).flatMap((r) => r.names));

/** What a default cell states: a literal value, nothing (unset, required, generated), empty, or prose not checked. */
type StatedDefault = { literal: string } | "unset" | "empty" | undefined;

function stated(cell: string): StatedDefault {
  const literal = /^`([^`<]+)`(\s*\([^)]*\))?$/.exec(cell);
  if (literal) return { literal: literal[1]! };
  if (cell.startsWith("(empty")) return "empty";
  if (cell.startsWith("(")) return "unset";
  return undefined;
}

/** The schema's default of a variable as the README would write it; undefined when it has none (optional or required). */
function schemaDefault(schema: z.ZodObject, name: string): string | undefined {
  const parsed = (schema.shape[name] as z.ZodType).safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object" && value !== null) return Object.keys(value).length === 0 ? "" : JSON.stringify(value);
  return String(value);
}

/** Every default a table states that its schema contradicts: `NAME: README says X, schema has Y`. */
function wrongDefaults(readme: string, heading: string, schema: z.ZodObject): string[] {
  const wrong: string[] = [];
  for (const row of table(readme, heading)) {
    row.names.forEach((name, i) => {
      if (!(name in schema.shape)) return;
      const claim = stated(row.defaults[i] ?? "");
      if (claim === undefined) return;
      const actual = schemaDefault(schema, name);
      const agrees = claim === "unset" ? actual === undefined : claim === "empty" ? actual === "" : actual === claim.literal;
      if (!agrees) wrong.push(`${name}: README says ${row.defaults[i]}, schema has ${actual === undefined ? "none" : JSON.stringify(actual)}`);
    });
  }
  return wrong;
}

/** Variables read but in neither table, and variables in the table the schema does not read. */
function mismatches(readme: string, heading: string, schema: z.ZodObject, alsoDocumentedIn: Set<string> = new Set()) {
  const own = documented(readme, heading);
  const read = Object.keys(schema.shape);
  return {
    undocumented: read.filter((name) => !own.has(name) && !alsoDocumentedIn.has(name)),
    notRead: [...own].filter((name) => !read.includes(name)),
  };
}

const services: [string, z.ZodObject][] = [
  ["services/auth", authConfigSchema],
  ["services/agent-ws", agentWsConfigSchema],
  ["services/terminal-ws", terminalWsConfigSchema as unknown as z.ZodObject],
  ["services/bullboard", bullboardConfigSchema],
  ["services/web (the browser UI)", webConfigSchema],
];
const tables: [string, z.ZodObject][] = [...services, [EDGE, edgeConfigSchema], [NPM_START, localStackConfigSchema]];

const common = Object.keys(commonConfigShape);

describe("README configuration tables", () => {
  it(`"${EVERY_SERVICE}" documents the variables every service reads, and nothing else`, () => {
    const everyService = documented(README, EVERY_SERVICE);
    expect(common.filter((name) => !everyService.has(name))).toEqual([]);
    // PORT too: every service reads it (its own table gives its default).
    const readByAll = [...everyService].filter((name) => !common.includes(name));
    expect(readByAll).toEqual(["PORT"]);
    for (const [heading, schema] of services) expect("PORT" in schema.shape, heading).toBe(true);
    expect(wrongDefaults(README, EVERY_SERVICE, authConfigSchema)).toEqual([]);
  });

  it.each(services)("%s: every variable it reads is documented, and nothing else", (heading, schema) => {
    expect(mismatches(README, heading, schema, documented(README, EVERY_SERVICE))).toEqual({ undocumented: [], notRead: [] });
  });

  it("the edge's table is every variable the edge reads, and nothing else", () => {
    expect(mismatches(README, EDGE, edgeConfigSchema)).toEqual({ undocumented: [], notRead: [] });
  });

  it("npm start's table is every variable it reads itself, and links to the edge's table for the edge's", () => {
    expect(mismatches(README, NPM_START, localStackConfigSchema)).toEqual({ undocumented: [], notRead: [] });
    const anchor = EDGE.toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-");
    expect(section(README, NPM_START)).toContain(`](#${anchor})`);
    // The edge's variables are listed once: npm start's table names none of them.
    expect([...documented(README, NPM_START)].filter((name) => name.startsWith("EDGE_"))).toEqual([]);
  });

  it.each(tables)("%s: every default the table states is the schema's", (heading, schema) => {
    expect(wrongDefaults(README, heading, schema)).toEqual([]);
    const checked = table(README, heading).flatMap((row) => row.defaults.filter((cell) => stated(cell) !== undefined));
    expect(checked.length, "defaults the table states in a form the test reads").toBeGreaterThan(0);
  });

  it("fails on a README that drops a variable, documents one nobody reads, or states a wrong default", () => {
    const heading = "services/agent-ws";
    const dropped = README.replace(/^\| `PRESENCE_SWEEP_MS` \|.*\n/m, "");
    expect(dropped).not.toBe(README);
    expect(mismatches(dropped, heading, agentWsConfigSchema, documented(dropped, EVERY_SERVICE)).undocumented).toEqual(["PRESENCE_SWEEP_MS"]);

    const extra = README.replace("| `PRESENCE_SWEEP_MS` |", "| `PRESENCE_SWEEP_INTERVAL` | `1` | unread |\n| `PRESENCE_SWEEP_MS` |");
    expect(mismatches(extra, heading, agentWsConfigSchema).notRead).toEqual(["PRESENCE_SWEEP_INTERVAL"]);

    const wrong = README.replace("| `PRESENCE_SWEEP_MS` | `15000` |", "| `PRESENCE_SWEEP_MS` | `16000` |")
      .replace("| `EDGE_HOST` | `127.0.0.1` |", "| `EDGE_HOST` | `0.0.0.0` |")
      .replace("| `EDGE_HTTP_PORT` | (off) |", "| `EDGE_HTTP_PORT` | `80` |")
      .replace("| `BULLBOARD_QUEUES` | (empty) |", "| `BULLBOARD_QUEUES` | (unset) |");
    expect(wrongDefaults(wrong, heading, agentWsConfigSchema)).toEqual(["PRESENCE_SWEEP_MS: README says `16000`, schema has \"15000\""]);
    expect(wrongDefaults(wrong, EDGE, edgeConfigSchema)).toEqual([
      'EDGE_HOST: README says `0.0.0.0`, schema has "127.0.0.1"',
      "EDGE_HTTP_PORT: README says `80`, schema has none",
    ]);
    expect(wrongDefaults(wrong, "services/bullboard", bullboardConfigSchema)).toEqual(['BULLBOARD_QUEUES: README says (unset), schema has ""']);
  });
});
