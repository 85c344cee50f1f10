import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineConfig, type Plugin } from "vite";

/** Compressible files of the build, written next to themselves as .gz and .br, so the web service never compresses per request. */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "patchmon-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]));
      for (const file of walk(outDir)) {
        if (!/\.(js|css|html|svg|json|wasm)$/.test(file) || statSync(file).size < 1024) continue;
        const content = readFileSync(file);
        writeFileSync(`${file}.gz`, gzipSync(content, { level: 9 }));
        writeFileSync(`${file}.br`, brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  // Preact's JSX runtime, compiled by Vite's own transformer (no Babel plugin).
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: { conditions: ["source"] },
  build: {
    target: "es2022",
    // No inline script in index.html: the strict Content-Security-Policy allows scripts from this origin only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  plugins: [precompress()],
  server: {
    proxy: {
      "/api": { target: process.env.PATCHMON_URL ?? "https://localhost:8443", changeOrigin: false, secure: false, ws: true },
      "/bullboard": { target: process.env.PATCHMON_URL ?? "https://localhost:8443", secure: false, ws: true },
    },
  },
});
