import { defineConfig } from "vitest/config";
import { defaultServerConditions } from "vite";

// Workspace packages export their TypeScript source under the "source" condition, so tests need no build step.
const conditions = ["source", ...defaultServerConditions];

/** Where test files live: each package's test/ folder, and cross-service tests in test/. */
const TEST_DIRS = ["{packages,services}/*/test/**/", "{proxy,agent,web}/test/**/", "test/**/"];
const files = (suffix: string) => TEST_DIRS.map((dir) => `${dir}*${suffix}`);

/**
 * The projects, by file name (README, "Tests"):
 *   *.browser.test.ts  browser      headless Chromium against real servers
 *   *.int.test.ts      integration  real servers or sockets: nats-server, redis-server, sshd, services, TLS
 *   *.test.ts          unit         everything else: pure logic, no servers, no sockets
 * test/test-projects.test.ts fails if a test file is in no project or in two.
 */
export const TEST_PROJECTS = {
  unit: { include: files(".test.ts"), exclude: [...files(".int.test.ts"), ...files(".browser.test.ts")] },
  integration: { include: files(".int.test.ts"), exclude: [] as string[] },
  browser: { include: files(".browser.test.ts"), exclude: [] as string[] },
} as const;

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["source"] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
    projects: Object.entries(TEST_PROJECTS).map(([name, { include, exclude }]) => ({
      extends: true,
      test: { name, include: [...include], exclude: [...exclude, "**/node_modules/**"] },
    })),
  },
});
