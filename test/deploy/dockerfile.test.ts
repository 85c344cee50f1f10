/**
 * The Dockerfile (one target per service) and .dockerignore: pinned base, reproducible install from the lockfile, a
 * final stage with production dependencies and built JavaScript only, non-root, health-checked, SIGTERM, the right CMD.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SERVICE_NAMES, SERVICE_PORTS, type ServiceName } from "../../proxy/src/routes.js";
import { ROOT, effective, isPinnedImage, parseDockerfile, read, stageChain } from "./support.js";

const dockerfile = parseDockerfile(read("Dockerfile"));
const { stages } = dockerfile;
const stage = (name: string) => stages.find((s) => s.name === name)!;
const instructions = (name: string, keyword: string) => stage(name).instructions.filter((i) => i.keyword === keyword);
const rootPackage = JSON.parse(read("package.json")) as { workspaces: string[]; allowScripts?: Record<string, boolean> };

/** The workspace folders package.json names (globs like services/* expanded). */
function workspaces(): string[] {
  return rootPackage.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [pattern];
    const dir = pattern.slice(0, -2);
    return readdirSync(join(ROOT, dir))
      .filter((name) => statSync(join(ROOT, dir, name)).isDirectory())
      .map((name) => `${dir}/${name}`)
      .filter((path) => {
        try {
          return statSync(join(ROOT, path, "package.json")).isFile();
        } catch {
          return false;
        }
      });
  });
}

/** The workspace folders a service's runtime needs: itself and the @patchmon-ws packages it depends on. */
function runtimeWorkspaces(service: ServiceName): string[] {
  const byName = new Map(workspaces().map((path) => [(JSON.parse(read(`${path}/package.json`)) as { name: string }).name, path]));
  const found = new Set<string>();
  const visit = (path: string) => {
    if (found.has(path)) return;
    found.add(path);
    const deps = (JSON.parse(read(`${path}/package.json`)) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const dep of Object.keys(deps)) if (byName.has(dep)) visit(byName.get(dep)!);
  };
  visit(`services/${service}`);
  return [...found].sort();
}

describe("the Dockerfile", () => {
  it("starts every stage from a pinned slim Node 20 image (never node:20 or latest)", () => {
    expect(dockerfile.args.NODE_IMAGE).toBe("node:20.20.2-bookworm-slim");
    for (const s of stages) {
      const base = stages.some((other) => other.name === s.from) ? undefined : s.from;
      if (base === undefined) continue;
      expect(isPinnedImage(base), `${s.name}: FROM ${base}`).toBe(true);
      expect(base, s.name).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    }
  });

  it("builds with npm ci from package-lock.json (install scripts off, as the allowScripts policy says) and npm run build", () => {
    const build = instructions("build", "RUN").map((i) => i.args);
    expect(build).toEqual(["npm ci --ignore-scripts --no-audit --no-fund", "npm run build"]);
    expect(Object.values(rootPackage.allowScripts ?? {}).every((allowed) => allowed === false)).toBe(true);
    expect(instructions("manifests", "COPY")[0]!.args).toBe("package.json package-lock.json ./");
  });

  it("copies every workspace's package.json before npm ci (npm ci fails on a workspace it cannot find)", () => {
    const copied = instructions("manifests", "COPY").map((i) => i.args.split(/\s+/)[0]!);
    expect(copied.slice(1).map((p) => p.replace(/\/package\.json$/, "")).sort()).toEqual(workspaces().sort());
  });

  it.each(SERVICE_NAMES)("target %s: production dependencies of its workspace only, in a clean stage", (service) => {
    const deps = stage(`deps-${service}`);
    expect(deps.from).toBe("manifests");
    expect(deps.instructions.map((i) => `${i.keyword} ${i.args}`)).toEqual([
      `RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=services/${service}  && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver`,
    ]);
    expect(stageChain(stages, service).map((s) => s.name)).toEqual([service, "runtime"]);
    expect(stage("runtime").from).toBe(dockerfile.args.NODE_IMAGE);
  });

  it.each(SERVICE_NAMES)("target %s: holds built JavaScript only (dist folders, no sources, no build stage's node_modules)", (service) => {
    const copies = instructions(service, "COPY").map((i) => i.args);
    expect(copies[0]).toBe(`--from=deps-${service} /app ./`);
    const fromBuild = copies.filter((c) => c.startsWith("--from=build "));
    for (const copy of fromBuild) expect(copy, copy).toMatch(/^--from=build \/app\/\S+\/dist \S+\/dist$/);
    const built = fromBuild.map((c) => c.split(/\s+/)[2]!.replace(/\/dist$/, "")).filter((p) => p !== "web");
    expect(built.sort()).toEqual(runtimeWorkspaces(service));
    expect(copies.filter((c) => !c.startsWith("--from="))).toEqual([]);
    expect(instructions("runtime", "COPY").map((i) => i.args)).toEqual(["deploy/docker/healthcheck.mjs ./healthcheck.mjs"]);
  });

  it.each(SERVICE_NAMES)("target %s: runs as a non-root user, with HEALTHCHECK, STOPSIGNAL SIGTERM and node dist/main.js", (service) => {
    const user = effective(stages, service, "USER")?.args;
    expect(user, `${service} runs as root`).toBeDefined();
    expect(user!.split(":")[0]).toMatch(/^[1-9]\d*$/);
    expect(effective(stages, service, "HEALTHCHECK")?.args).toMatch(/CMD \["node", "healthcheck\.mjs"\]$/);
    expect(effective(stages, service, "STOPSIGNAL")?.args).toBe("SIGTERM");
    expect(JSON.parse(effective(stages, service, "CMD")!.args)).toEqual(["node", `services/${service}/dist/main.js`]);
    expect(effective(stages, service, "EXPOSE")?.args).toBe(String(SERVICE_PORTS[service]));
    expect(effective(stages, service, "ENV")?.args).toMatch(new RegExp(`^PORT=${SERVICE_PORTS[service]}\\b`));
  });

  it("serves web/dist through services/web, with WEB_ROOT pointing at it", () => {
    expect(instructions("web", "COPY").map((i) => i.args)).toContain("--from=build /app/web/dist web/dist");
    expect(effective(stages, "web", "ENV")?.args).toBe("PORT=8080 WEB_ROOT=/app/web/dist");
  });

  it("keeps the runtime free of devDependencies: every import a service's code runs is a production dependency", () => {
    const builtin = new Set(["node"]);
    for (const service of SERVICE_NAMES) {
      for (const workspace of runtimeWorkspaces(service)) {
        const manifest = JSON.parse(read(`${workspace}/package.json`)) as { name: string; dependencies?: Record<string, string> };
        const allowed = new Set(Object.keys(manifest.dependencies ?? {}));
        const files = sourceFiles(join(ROOT, workspace, "src"));
        for (const file of files) {
          const text = readFileSync(file, "utf8");
          // Value imports only: `import type` and `export type` are erased by tsc.
          for (const match of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?["']([^"'.][^"']*)["']/gm)) {
            const specifier = match[1]!;
            if (specifier.startsWith("node:") || builtin.has(specifier)) continue;
            const pkg = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;
            expect(allowed.has(pkg), `${file.slice(ROOT.length + 1)} imports ${pkg}, not a dependency of ${manifest.name}`).toBe(true);
          }
        }
      }
    }
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [path] : [];
  });
}

describe(".dockerignore", () => {
  const ignored = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  it("keeps installed and built output, state, secrets, git and test material out of the build context", () => {
    for (const entry of ["**/node_modules", "**/dist", ".state", ".git", ".screenshots", ".scratch", "**/coverage", ".env", ".env.*", "*.log", "**/test"]) {
      expect(ignored, entry).toContain(entry);
    }
  });

  it("keeps what the build needs (no negation tricks, nothing the Dockerfile copies ignored)", () => {
    expect(ignored.filter((l) => l.startsWith("!"))).toEqual([]);
    for (const needed of ["package.json", "package-lock.json", "deploy/docker/healthcheck.mjs", "web", "services", "packages", "proxy", "agent"]) {
      expect(ignored, needed).not.toContain(needed);
    }
  });
});
