import { defineConfig } from "vitest/config";
import { defaultServerConditions } from "vite";

// Workspace packages export their TypeScript source under the "source" condition, so tests need no build step.
const conditions = ["source", ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["source"] } },
  test: {
    include: ["{packages,services,proxy,agent,web}/*/test/**/*.test.ts", "{proxy,agent}/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
  },
});
