import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));

describe("the protocol package in a browser", () => {
  it("bundles for platform browser with no Node built-in and no Node global", async () => {
    // platform "browser": an import of node:* or a bare Node module fails the build instead of being left external.
    const result = await build({ entryPoints: [entry], bundle: true, platform: "browser", format: "esm", write: false, logLevel: "silent" });
    expect(result.errors).toEqual([]);
    const code = result.outputFiles[0]!.text;
    for (const nodeOnly of [/\bBuffer\./, /\bprocess\.(env|version|nextTick)/, /\brequire\(/, /from\s+["']node:/]) {
      expect(code).not.toMatch(nodeOnly);
    }
  });

  it("works in a bundle: close reasons fit in 123 bytes of UTF-8 without Buffer", async () => {
    const result = await build({
      stdin: { contents: `import { closeReason } from ${JSON.stringify(entry)}; export const r = closeReason("é".repeat(100));`, resolveDir: "." },
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
    });
    const module = (await import(`data:text/javascript;base64,${Buffer.from(result.outputFiles[0]!.text).toString("base64")}`)) as { r: string };
    expect(new TextEncoder().encode(module.r).length).toBeLessThanOrEqual(123);
    expect(module.r.endsWith("...")).toBe(true);
  });
});
