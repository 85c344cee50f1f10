/**
 * The layering the folder layout shows (docs/architecture.md): packages/ are the ground floor. Their sources and
 * manifests name only other packages, never the edge (proxy/), a service, the agent or the web UI, and never reach
 * outside their own folder by a relative path; and the package graph has no circle.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { globSync } from "tinyglobby";

const ROOT = resolve(import.meta.dirname, "..");
const PACKAGES = readdirSync(join(ROOT, "packages"));
const manifest = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, "package.json"), "utf8")) as {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const PACKAGE_NAMES = new Set(PACKAGES.map((p) => manifest(`packages/${p}`).name));
const WORKSPACE_NAMES = new Set(
  (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).workspaces as string[])
    .flatMap((pattern) => globSync(`${pattern}/package.json`, { cwd: ROOT }))
    .map((file) => manifest(file.replace(/\/package\.json$/, "")).name),
);

/** Workspace names a source file imports (static, dynamic and type-only imports alike). */
function workspaceImports(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*)["'](@patchmon-ws\/[^"'/]+)/g)].map((m) => m[1]!);
}

describe("packages/ sit below everything else", () => {
  for (const pkg of PACKAGES) {
    it(`packages/${pkg} imports only packages`, () => {
      const files = globSync("src/**/*.ts", { cwd: join(ROOT, "packages", pkg), absolute: true });
      expect(files.length).toBeGreaterThan(0);
      const offending: string[] = [];
      for (const file of files) {
        const text = readFileSync(file, "utf8");
        for (const name of workspaceImports(text)) if (!PACKAGE_NAMES.has(name)) offending.push(`${relative(ROOT, file)} → ${name}`);
        for (const m of text.matchAll(/from\s+["'](\.\.?\/[^"']+)["']/g)) {
          const target = resolve(file, "..", m[1]!);
          if (!target.startsWith(join(ROOT, "packages", pkg) + "/")) offending.push(`${relative(ROOT, file)} → ${m[1]}`);
        }
      }
      const { dependencies = {}, devDependencies = {} } = manifest(`packages/${pkg}`);
      for (const name of Object.keys({ ...dependencies, ...devDependencies })) {
        if (WORKSPACE_NAMES.has(name) && !PACKAGE_NAMES.has(name)) offending.push(`package.json → ${name}`);
      }
      expect(offending).toEqual([]);
    });
  }

  it("the workspace package graph has no circle", () => {
    const edges = new Map<string, string[]>();
    for (const file of globSync(["packages/*/package.json", "services/*/package.json", "proxy/package.json", "agent/package.json", "web/package.json"], { cwd: ROOT })) {
      const m = manifest(file.replace(/\/package\.json$/, ""));
      edges.set(m.name, Object.keys({ ...m.dependencies, ...m.devDependencies }).filter((d) => WORKSPACE_NAMES.has(d)));
    }
    const circles: string[] = [];
    const visit = (name: string, path: string[]) => {
      if (path.includes(name)) return void circles.push([...path.slice(path.indexOf(name)), name].join(" → "));
      for (const next of edges.get(name) ?? []) visit(next, [...path, name]);
    };
    for (const name of edges.keys()) visit(name, []);
    expect(circles).toEqual([]);
  });

  it("would catch an upward import (the check itself can fail)", () => {
    expect(workspaceImports('import { startEdge } from "@patchmon-ws/edge";').filter((n) => !PACKAGE_NAMES.has(n))).toEqual(["@patchmon-ws/edge"]);
    expect(workspaceImports('const { x } = await import("@patchmon-ws/agent-ws");')).toEqual(["@patchmon-ws/agent-ws"]);
  });
});
