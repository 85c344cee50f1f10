/**
 * The Dockerfile (one target per service) and .dockerignore, by the properties an image must have, not by its lines:
 * one pinned base image whose Node satisfies package.json's engines, every workspace manifest in place before
 * `npm ci`, install scripts off, final stages holding production dependencies and compiled JavaScript only (no RUN,
 * nothing copied but dist folders, installed dependencies and the health check script), non-root, health-checked,
 * stopped with SIGTERM. Each property is also run on a copy of the Dockerfile that lacks it, so none can pass
 * whatever the file says.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SERVICE_NAMES, SERVICE_PORTS, type ServiceName } from "../../proxy/src/routes.js";
import { ROOT, effective, isPinnedImage, parseDockerfile, read, stageChain, type DockerInstruction, type DockerStage } from "./support.js";

const DOCKERFILE = read("Dockerfile");
const rootPackage = JSON.parse(read("package.json")) as { workspaces: string[]; engines: { node: string }; allowScripts?: Record<string, boolean> };

/** The workspace folders package.json names (globs like services/* expanded). */
function workspaces(): string[] {
  return rootPackage.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [pattern];
    const dir = pattern.slice(0, -2);
    return readdirSync(join(ROOT, dir))
      .map((name) => `${dir}/${name}`)
      .filter((path) => statSync(join(ROOT, path, "package.json"), { throwIfNoEntry: false })?.isFile());
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

interface Parsed {
  stages: DockerStage[];
}

const stageNamed = (d: Parsed, name: string) => d.stages.find((s) => s.name === name);
const isStage = (d: Parsed, from: string) => d.stages.some((s) => s.name === from);
/** The base images the stages start from (not other stages). */
const externalBases = (d: Parsed) => [...new Set(d.stages.filter((s) => !isStage(d, s.from)).map((s) => s.from))];

/** A COPY's flags (`--from=x`), sources and destination. */
function copyOf(instruction: DockerInstruction): { from: string | undefined; sources: string[]; dest: string } {
  const words = instruction.args.split(/\s+/).filter(Boolean);
  const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
  const paths = words.filter((w) => !w.startsWith("--"));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** Instructions of a target from the base image down, its parents' first. */
const chainInstructions = (d: Parsed, target: string) =>
  stageChain(d.stages, target)
    .reverse()
    .flatMap((s) => s.instructions.map((i) => ({ stage: s, instruction: i })));

const npmCi = (i: DockerInstruction) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.args);

/** The Node version of an image tag such as node:20.20.2-bookworm-slim (undefined when the tag names none). */
function nodeVersionOf(image: string): number[] | undefined {
  const tag = /^(?:[^@]*\/)?node:v?(\d+)\.(\d+)\.(\d+)/.exec(image.split("@")[0]!);
  return tag ? tag.slice(1, 4).map(Number) : undefined;
}

/** Whether `version` satisfies an engines range of the form `>=X[.Y[.Z]]`. */
function satisfiesEngines(version: number[], range: string): boolean {
  const minimum = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!minimum) throw new Error(`package.json engines.node ${JSON.stringify(range)}: this test reads ">=X.Y.Z" only`);
  const wanted = minimum.slice(1, 4).map((n) => Number(n ?? 0));
  for (let i = 0; i < 3; i++) if (version[i]! !== wanted[i]!) return version[i]! > wanted[i]!;
  return true;
}

type Property = (d: Parsed) => string[];

/** Each property returns what in the Dockerfile breaks it (nothing: it holds). */
const properties = {
  "every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines": (d) => {
    const bases = externalBases(d);
    const problems = bases.length === 1 ? [] : [`several base images: ${bases.join(", ")}`];
    for (const base of bases) {
      if (!isPinnedImage(base)) problems.push(`${base} is not pinned to an exact version or digest`);
      if (!/-slim\b/.test(base)) problems.push(`${base} is not a slim image`);
      const version = nodeVersionOf(base);
      if (!version) problems.push(`${base}: no Node version in its tag`);
      else if (!satisfiesEngines(version, rootPackage.engines.node)) problems.push(`${base}: Node ${version.join(".")} does not satisfy engines ${rootPackage.engines.node}`);
    }
    return problems;
  },

  "copies every workspace's package.json and the lockfile before npm ci, and nothing else before it": (d) => {
    const problems: string[] = [];
    for (const stage of d.stages.filter((s) => s.instructions.some(npmCi))) {
      const before: DockerInstruction[] = [];
      for (const { instruction } of chainInstructions(d, stage.name!)) {
        if (npmCi(instruction)) break;
        if (instruction.keyword === "COPY" || instruction.keyword === "ADD") before.push(instruction);
      }
      const copied = new Set<string>();
      for (const copy of before.map(copyOf)) {
        for (const source of copy.sources) {
          if (copy.from !== undefined || !/(^|\/)(package\.json|package-lock\.json)$/.test(source)) problems.push(`${stage.name}: copies ${source} before npm ci`);
          const dest = copy.dest.endsWith("/") ? `${copy.dest === "./" ? "" : copy.dest}${source.split("/").at(-1)}` : copy.dest;
          copied.add(dest.replace(/^\.\//, ""));
        }
      }
      for (const needed of ["package.json", "package-lock.json", ...workspaces().map((w) => `${w}/package.json`)]) {
        if (!copied.has(needed)) problems.push(`${stage.name}: ${needed} is not in place before npm ci`);
      }
    }
    return problems;
  },

  "installs with npm ci only, install scripts off (the allowScripts policy allows none)": (d) => {
    const installs = d.stages.flatMap((s) => s.instructions.filter((i) => i.keyword === "RUN" && /\bnpm (ci|install|i)\b/.test(i.args)).map((i) => ({ stage: s.name, args: i.args })));
    const problems = installs.filter((i) => !/\bnpm ci\b/.test(i.args)).map((i) => `${i.stage}: ${i.args} is not npm ci`);
    problems.push(...installs.filter((i) => !/--ignore-scripts\b/.test(i.args)).map((i) => `${i.stage}: npm ci runs install scripts`));
    if (installs.length === 0) problems.push("nothing runs npm ci");
    const allowed = Object.entries(rootPackage.allowScripts ?? {}).filter(([, allow]) => allow);
    if (allowed.length > 0) problems.push(`allowScripts allows ${allowed.map(([name]) => name).join(", ")}, which --ignore-scripts would not run`);
    return problems;
  },

  "builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node": (d) => {
    const problems: string[] = [];
    for (const service of SERVICE_NAMES) {
      const chain = stageChain(d.stages, service);
      if (chain.length === 0) {
        problems.push(`no target ${service}`);
        continue;
      }
      const built = new Set<string>();
      let dependencies = false;
      for (const { stage, instruction } of chainInstructions(d, service)) {
        if (instruction.keyword === "RUN") problems.push(`${service}: runs ${instruction.args} in its final stages`);
        if (instruction.keyword === "ADD") problems.push(`${service}: ADD ${instruction.args}`);
        if (instruction.keyword !== "COPY") continue;
        const copy = copyOf(instruction);
        if (copy.from === undefined) {
          // From the build context: plain JavaScript only (the health check), never sources.
          for (const source of copy.sources) if (!/\.m?js$/.test(source)) problems.push(`${stage.name}: copies ${source} from the build context`);
          continue;
        }
        if (copy.sources.every((source) => /\/dist$/.test(source))) {
          for (const source of copy.sources) built.add(source.replace(/^\/app\//, "").replace(/\/dist$/, ""));
          continue;
        }
        // Anything but dist folders must come from a stage that only installs this service's production dependencies.
        const runs = chainInstructions(d, copy.from).filter(({ instruction }) => instruction.keyword === "RUN");
        const installs = runs.every(({ instruction }) => npmCi(instruction)) ? (stageNamed(d, copy.from)?.instructions.filter(npmCi) ?? []) : [];
        if (installs.length === 0) problems.push(`${service}: copies ${copy.sources.join(" ")} from ${copy.from}, neither dist folders nor a stage of installed dependencies`);
        for (const install of installs) {
          dependencies = true;
          if (!/--omit=dev\b/.test(install.args)) problems.push(`${service}: copies ${copy.sources.join(" ")} from ${copy.from}, whose npm ci installs devDependencies`);
          if (!new RegExp(`--workspace=services/${service}(\\s|$)`).test(install.args)) problems.push(`${service}: its node_modules (stage ${copy.from}) are not those of services/${service}`);
        }
      }
      if (!dependencies) problems.push(`${service}: no production dependencies installed`);
      for (const workspace of runtimeWorkspaces(service)) if (!built.has(workspace)) problems.push(`${service}: ${workspace}/dist is missing`);
      const cmd = effective(d.stages, service, "CMD");
      const command = cmd ? (JSON.parse(cmd.args) as string[]) : [];
      if (command[0] !== "node" || command.length !== 2 || command[1] !== `services/${service}/dist/main.js`) problems.push(`${service}: CMD ${cmd?.args} is not node services/${service}/dist/main.js`);
      if (effective(d.stages, service, "EXPOSE")?.args !== String(SERVICE_PORTS[service])) problems.push(`${service}: does not EXPOSE ${SERVICE_PORTS[service]}`);
      if (!new RegExp(`(^|\\s)PORT=${SERVICE_PORTS[service]}(\\s|$)`).test(effective(d.stages, service, "ENV")?.args ?? "")) problems.push(`${service}: PORT is not ${SERVICE_PORTS[service]}`);
    }
    return problems;
  },

  "runs every service target as a numeric non-root user": (d) =>
    SERVICE_NAMES.flatMap((service) => {
      const user = effective(d.stages, service, "USER")?.args;
      return user && /^[1-9]\d*(:\d+)?$/.test(user) ? [] : [`${service}: USER ${user ?? "(none: root)"}`];
    }),

  "health-checks every service target with a script the image holds": (d) =>
    SERVICE_NAMES.flatMap((service) => {
      const check = effective(d.stages, service, "HEALTHCHECK")?.args;
      const script = check ? /CMD \["node", "([^"]+)"/.exec(check)?.[1] : undefined;
      if (!script) return [`${service}: no HEALTHCHECK running node`];
      const copied = chainInstructions(d, service).some(({ instruction }) => instruction.keyword === "COPY" && copyOf(instruction).dest.replace(/^\.\//, "") === script);
      return copied ? [] : [`${service}: the health check's ${script} is not copied into the image`];
    }),

  "stops every service target with SIGTERM (the services drain on it)": (d) =>
    SERVICE_NAMES.flatMap((service) => (effective(d.stages, service, "STOPSIGNAL")?.args === "SIGTERM" ? [] : [`${service}: STOPSIGNAL is not SIGTERM`])),

  "serves web/dist through services/web, with WEB_ROOT pointing at where it is copied": (d) => {
    const copy = stageNamed(d, "web")
      ?.instructions.filter((i) => i.keyword === "COPY")
      .map(copyOf)
      .find((c) => c.from !== undefined && c.sources.some((s) => s.replace(/^\/app\//, "") === "web/dist"));
    if (!copy) return ["the web target does not copy web/dist from the build"];
    const workdir = effective(d.stages, "web", "WORKDIR")?.args ?? "/";
    const root = copy.dest.startsWith("/") ? copy.dest : join(workdir, copy.dest);
    const env = effective(d.stages, "web", "ENV")?.args ?? "";
    return new RegExp(`(^|\\s)WEB_ROOT=${root}(\\s|$)`).test(env) ? [] : [`WEB_ROOT is not ${root}`];
  },
} satisfies Record<string, Property>;

type PropertyName = keyof typeof properties;

/** A copy of the Dockerfile lacking each property (a text edit that must change the file). */
const MUTATIONS: [PropertyName, string, (text: string) => string][] = [
  ["every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines", "a floating major tag", (t) => t.replace(/^ARG NODE_IMAGE=node:(\d+)\.\d+\.\d+/m, "ARG NODE_IMAGE=node:$1")],
  ["every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines", "latest", (t) => t.replace(/^ARG NODE_IMAGE=.*$/m, "ARG NODE_IMAGE=node:latest")],
  ["every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines", "a Node older than engines", (t) => t.replace(/^ARG NODE_IMAGE=node:[^-\s]+/m, "ARG NODE_IMAGE=node:18.20.8")],
  ["every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines", "not slim", (t) => t.replace(/^(ARG NODE_IMAGE=\S+?)-slim/m, "$1")],
  ["every stage starts from one base image, pinned to an exact version or digest, a slim Node that satisfies engines", "two bases", (t) => t.replace(/^FROM \$\{NODE_IMAGE\} AS runtime$/m, "FROM node:99.0.0-bookworm-slim AS runtime")],
  ["copies every workspace's package.json and the lockfile before npm ci, and nothing else before it", "a workspace manifest missing", (t) => t.replace(/^COPY services\/web\/package\.json .*\n/m, "")],
  ["copies every workspace's package.json and the lockfile before npm ci, and nothing else before it", "the lockfile missing", (t) => t.replace(/^COPY package\.json package-lock\.json /m, "COPY package.json ")],
  ["copies every workspace's package.json and the lockfile before npm ci, and nothing else before it", "sources before npm ci", (t) => t.replace(/^(FROM manifests AS build)$/m, "$1\nCOPY . .")],
  ["installs with npm ci only, install scripts off (the allowScripts policy allows none)", "install scripts on", (t) => t.replace(/ --ignore-scripts/g, "")],
  ["installs with npm ci only, install scripts off (the allowScripts policy allows none)", "npm install", (t) => t.replace(/RUN npm ci --ignore-scripts --no-audit --no-fund$/m, "RUN npm install --ignore-scripts")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "devDependencies", (t) => t.replace(/(deps-auth\nRUN npm ci) --omit=dev/, "$1")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "another workspace's dependencies", (t) => t.replace(/--workspace=services\/auth\b/, "--workspace=services/web")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "sources", (t) => t.replace(/^(FROM runtime AS auth)$/m, "$1\nCOPY --from=build /app/services/auth/src services/auth/src")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "the build's node_modules", (t) => t.replace(/^(FROM runtime AS agent-ws)$/m, "$1\nCOPY --from=build /app/node_modules node_modules")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "the build context", (t) => t.replace(/^(FROM runtime AS bullboard)$/m, "$1\nCOPY services/bullboard services/bullboard")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "a package's dist missing", (t) => t.replace(/(FROM runtime AS terminal-ws\n(?:.*\n)*?)COPY --from=build \/app\/packages\/protocol\/dist .*\n/, "$1")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "the build stage as base", (t) => t.replace(/^FROM \$\{NODE_IMAGE\} AS runtime$/m, "FROM build AS runtime")],
  ["builds every service target on a clean base: production dependencies of its workspace, compiled dist folders, plain node", "TypeScript at run time", (t) => t.replace('CMD ["node", "services/auth/dist/main.js"]', 'CMD ["node", "--import", "tsx", "services/auth/src/main.ts"]')],
  ["runs every service target as a numeric non-root user", "no USER", (t) => t.replace(/^USER .*\n/gm, "")],
  ["runs every service target as a numeric non-root user", "root", (t) => t.replace(/^USER .*$/m, "USER 0:0")],
  ["runs every service target as a numeric non-root user", "a user name", (t) => t.replace(/^USER .*$/m, "USER node")],
  ["health-checks every service target with a script the image holds", "no HEALTHCHECK", (t) => t.replace(/^HEALTHCHECK .*\n/gm, "")],
  ["health-checks every service target with a script the image holds", "the script not copied", (t) => t.replace(/^COPY deploy\/docker\/healthcheck\.mjs .*\n/m, "")],
  ["stops every service target with SIGTERM (the services drain on it)", "no STOPSIGNAL", (t) => t.replace(/^STOPSIGNAL .*\n/m, "")],
  ["stops every service target with SIGTERM (the services drain on it)", "SIGKILL", (t) => t.replace(/^STOPSIGNAL .*$/m, "STOPSIGNAL SIGKILL")],
  ["serves web/dist through services/web, with WEB_ROOT pointing at where it is copied", "WEB_ROOT elsewhere", (t) => t.replace(/WEB_ROOT=\S+/, "WEB_ROOT=/srv/www")],
];

describe("the Dockerfile", () => {
  const dockerfile = parseDockerfile(DOCKERFILE);

  it.each(Object.keys(properties) as PropertyName[])("%s", (name) => {
    expect(properties[name](dockerfile)).toEqual([]);
  });

  it.each(MUTATIONS)("would fail «%s» on a copy with %s", (name, _what, mutate) => {
    const mutated = mutate(DOCKERFILE);
    expect(mutated, "the mutation must change the Dockerfile").not.toBe(DOCKERFILE);
    expect(properties[name](parseDockerfile(mutated)).length).toBeGreaterThan(0);
  });

  it("keeps the runtime free of devDependencies: every import a service's code runs is a production dependency", () => {
    for (const service of SERVICE_NAMES) {
      for (const workspace of runtimeWorkspaces(service)) {
        const manifest = JSON.parse(read(`${workspace}/package.json`)) as { name: string; dependencies?: Record<string, string> };
        const allowed = new Set(Object.keys(manifest.dependencies ?? {}));
        for (const file of sourceFiles(join(ROOT, workspace, "src"))) {
          const text = readFileSync(file, "utf8");
          // Value imports only: `import type` and `export type` are erased by tsc.
          for (const match of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?["']([^"'.][^"']*)["']/gm)) {
            const specifier = match[1]!;
            if (specifier.startsWith("node:")) continue;
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
