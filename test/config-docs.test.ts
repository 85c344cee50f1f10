/**
 * The README's configuration tables against the code: every variable a service reads is documented in its table
 * (or in "Every service"), every documented variable exists, and a documented default that is a number is the
 * schema's default.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { commonConfigShape } from "@patchmon-ws/service-kit";
import { agentWsConfigSchema } from "../services/agent-ws/src/config.js";
import { authConfigSchema } from "../services/auth/src/config.js";
import { bullboardConfigSchema } from "../services/bullboard/src/config.js";
import { terminalWsConfigSchema } from "../services/terminal-ws/src/config.js";
import { webConfigSchema } from "../services/web/src/config.js";

const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");

interface Row {
  names: string[];
  defaults: string[];
}

/** The rows of the first table under a `### heading`: variable names and default cells, split on " / ". */
function table(heading: string): Row[] {
  const start = readme.indexOf(`### ${heading}\n`);
  if (start === -1) throw new Error(`README has no "### ${heading}" section`);
  const section = readme.slice(start).split("\n").slice(1);
  const rows: Row[] = [];
  let inTable = false;
  for (const line of section) {
    if (line.startsWith("| variable")) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    if (!line.startsWith("|")) break;
    if (line.startsWith("|---")) continue;
    const [nameCell = "", defaultCell = ""] = line.split(/(?<!\\)\|/).slice(1);
    const names = [...nameCell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    const defaults = defaultCell.split(" / ").map((d) => d.trim().replace(/^`|`$/g, ""));
    rows.push({ names, defaults: names.length === defaults.length ? defaults : names.map(() => "") });
  }
  return rows;
}

function defaultOf(schema: z.ZodObject, name: string): unknown {
  const field = schema.shape[name] as z.ZodType | undefined;
  const parsed = field?.safeParse(undefined);
  return parsed?.success ? parsed.data : undefined;
}

const services: [string, z.ZodObject][] = [
  ["services/auth", authConfigSchema],
  ["services/agent-ws", agentWsConfigSchema],
  ["services/terminal-ws", terminalWsConfigSchema as unknown as z.ZodObject],
  ["services/bullboard", bullboardConfigSchema],
  ["services/web (the browser UI)", webConfigSchema],
];

const common = new Set(Object.keys(commonConfigShape));
const everyService = new Set(table("Every service").flatMap((r) => r.names));

describe("README configuration tables", () => {
  it("document every variable of every service", () => {
    expect([...common].filter((name) => !everyService.has(name))).toEqual([]);
  });

  it.each(services)("%s: every variable it reads is documented, and nothing else", (heading, schema) => {
    const rows = table(heading);
    const documented = new Set(rows.flatMap((r) => r.names));
    const read = Object.keys(schema.shape).filter((name) => !common.has(name));
    expect(read.filter((name) => !documented.has(name) && !everyService.has(name))).toEqual([]);
    expect([...documented].filter((name) => !(name in schema.shape))).toEqual([]);
  });

  it.each(services)("%s: numeric defaults match the schema", (heading, schema) => {
    for (const row of table(heading)) {
      row.names.forEach((name, i) => {
        const documented = row.defaults[i] ?? "";
        const actual = defaultOf(schema, name);
        if (typeof actual === "number" && /^[0-9]+$/.test(documented)) expect({ name, value: Number(documented) }).toEqual({ name, value: actual });
      });
    }
  });
});
