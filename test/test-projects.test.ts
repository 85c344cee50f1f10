/**
 * Every test file runs in exactly one vitest project (unit, integration or browser), so `npm run test:unit` and
 * friends together run everything `npm test` runs, and a misnamed file (say `*.int.ts`) is not silently skipped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { globSync } from "tinyglobby";
import { REPO_ROOT } from "@patchmon-ws/stack";
import { TEST_PROJECTS } from "../vitest.config.js";

const IGNORE = ["**/node_modules/**", "**/dist/**"];
const glob = (patterns: readonly string[], ignore: readonly string[] = []) =>
  globSync([...patterns], { cwd: REPO_ROOT, ignore: [...IGNORE, ...ignore] });

describe("vitest projects", () => {
  it("put every test file in exactly one project", () => {
    const membership = new Map<string, string[]>();
    for (const [name, { include, exclude }] of Object.entries(TEST_PROJECTS)) {
      for (const file of glob(include, exclude)) membership.set(file, [...(membership.get(file) ?? []), name]);
    }
    // Anything that looks like a test, wherever it is.
    const candidates = glob(["**/*.test.ts", "**/*.spec.ts", "**/*.test.mts", "**/*.test.js"]);
    expect(candidates.length).toBeGreaterThan(50);
    const misplaced = candidates
      .map((file) => ({ file, projects: membership.get(file) ?? [] }))
      .filter(({ projects }) => projects.length !== 1);
    expect(misplaced).toEqual([]);
  });

  it("keep servers out of unit tests: a unit file that starts one must be named *.int.test.ts", () => {
    const launchers = /\b(startNatsServer|startRedisServer|startAuth|startStack|startService|startSshd|startEdge)\(/;
    const { include, exclude } = TEST_PROJECTS.unit;
    const offenders = glob(include, exclude).filter((file) => launchers.test(readFileSync(join(REPO_ROOT, file), "utf8")));
    expect(offenders).toEqual([]);
  });

  it("name the projects by file suffix", () => {
    const names = (file: string) => Object.entries(TEST_PROJECTS).filter(([, p]) => glob(p.include, p.exclude).includes(file)).map(([n]) => n);
    expect(names("test/bullboard.browser.test.ts")).toEqual(["browser"]);
    expect(names("test/stack.int.test.ts")).toEqual(["integration"]);
    expect(names("test/test-projects.test.ts")).toEqual(["unit"]);
  });
});
