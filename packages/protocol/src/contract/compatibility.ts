/**
 * Is a new NATS contract an additive change of an old one? Replicas of the old and the new release run side by side
 * during a rolling deploy (docs/deploy.md, "Rolling deploys"), so the new contract must keep every subject, stream, bucket, queue group and
 * message of the old one, and every message schema must accept whatever the old one accepted and keep every field it
 * had:
 *
 *   compatible (additive)                         breaking
 *   a new subject, stream, bucket, message        a removed or renamed subject (pattern changed), stream, bucket…
 *   a new optional field                          a removed field (even an optional one: old receivers may read it)
 *   a field that becomes optional                 a new required field, or an optional field that becomes required
 *   a new enum value or union branch              a removed enum value or union branch
 *   wider bounds (max 10 → 20, min 1 → 0)         tighter bounds, a new bound, a new or changed pattern or format
 *   integer → number, T → T | null, enum → string  number → integer, string → enum/const, a type no longer accepted
 *
 * The schemas are JSON Schemas as zod's toJSONSchema emits them (draft 2020-12, the input side). The comparison is
 * structural and conservative: a constraint it cannot prove wider (a changed regular expression, a keyword it does not
 * model) counts as a narrowing.
 */
import type { JsonSchema, NatsContract } from "./nats-contract.js";

export interface CompatibilityIssue {
  /** Where: `subjects.AuthSubjects.verifyAccess`, `messages.VerifyAccessRequest.token`, … */
  path: string;
  problem: string;
}

/** Annotations that never change what a schema accepts. */
const ANNOTATIONS = new Set(["$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "id"]);

/** Keywords this checker compares; any other keyword present in the new schema and not in the old one is a narrowing. */
const MODELLED = new Set([
  "type",
  "const",
  "enum",
  "anyOf",
  "oneOf",
  "$ref",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "minProperties",
  "maxProperties",
]);

type Schema = JsonSchema | boolean;

interface Side {
  root: Schema;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function resolve(schema: Schema | undefined, side: Side, seen = new Set<string>()): Schema {
  if (schema === undefined) return true;
  if (!isObject(schema) || typeof schema.$ref !== "string") return schema;
  const ref = schema.$ref;
  if (seen.has(ref)) throw new Error(`circular $ref ${ref}`);
  seen.add(ref);
  let target: unknown;
  if (ref === "#") target = side.root;
  else {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!match || !isObject(side.root)) throw new Error(`unsupported $ref ${ref}`);
    target = (side.root[match[1]!] as Record<string, unknown> | undefined)?.[decodeURIComponent(match[2]!).replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
  const { $ref: _ref, ...siblings } = schema;
  const resolved = resolve(target as Schema, side, seen);
  // Keywords beside $ref (2020-12 allows them) apply too; merge them in.
  return isObject(resolved) ? { ...resolved, ...siblings } : Object.keys(siblings).length > 0 ? siblings : resolved;
}

/** true when the schema accepts every value (`true`, `{}`, or annotations only). */
function acceptsAll(schema: Schema): boolean {
  if (schema === true) return true;
  if (schema === false) return false;
  return Object.keys(schema).every((key) => ANNOTATIONS.has(key));
}

function union(schema: JsonSchema): Schema[] | undefined {
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  return Array.isArray(branches) ? branches : undefined;
}

function literalValues(schema: JsonSchema): unknown[] | undefined {
  if ("const" in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  return undefined;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** The JSON types a schema admits; undefined = any type. */
function typesOf(schema: JsonSchema): Set<string> | undefined {
  if (typeof schema.type === "string") return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type as string[]);
  const literals = literalValues(schema);
  if (literals) return new Set(literals.map(jsonType));
  return undefined;
}

function admitsType(types: Set<string> | undefined, type: string): boolean {
  if (!types) return true;
  return types.has(type) || (type === "integer" && types.has("number"));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describe(value: unknown): string {
  return JSON.stringify(value);
}

interface Bound {
  value: number;
  exclusive: boolean;
}

function lowerBound(schema: JsonSchema): Bound | undefined {
  const inclusive = typeof schema.minimum === "number" ? schema.minimum : undefined;
  const exclusive = typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum : undefined;
  if (inclusive === undefined && exclusive === undefined) return undefined;
  if (exclusive !== undefined && (inclusive === undefined || exclusive >= inclusive)) return { value: exclusive, exclusive: true };
  return { value: inclusive!, exclusive: false };
}

function upperBound(schema: JsonSchema): Bound | undefined {
  const inclusive = typeof schema.maximum === "number" ? schema.maximum : undefined;
  const exclusive = typeof schema.exclusiveMaximum === "number" ? schema.exclusiveMaximum : undefined;
  if (inclusive === undefined && exclusive === undefined) return undefined;
  if (exclusive !== undefined && (inclusive === undefined || exclusive <= inclusive)) return { value: exclusive, exclusive: true };
  return { value: inclusive!, exclusive: false };
}

/** Is the new lower bound at most the old one (a lower limit may only go down)? */
function lowerWidened(previous: Bound | undefined, next: Bound | undefined): boolean {
  if (!next) return true;
  if (!previous) return false;
  return next.value < previous.value || (next.value === previous.value && (!next.exclusive || previous.exclusive));
}

function upperWidened(previous: Bound | undefined, next: Bound | undefined): boolean {
  if (!next) return true;
  if (!previous) return false;
  return next.value > previous.value || (next.value === previous.value && (!next.exclusive || previous.exclusive));
}

function boundText(bound: Bound | undefined, side: "min" | "max"): string {
  if (!bound) return "none";
  return `${side === "min" ? (bound.exclusive ? ">" : ">=") : bound.exclusive ? "<" : "<="} ${bound.value}`;
}

/** A count limit (minLength, minItems, …): the minimum may only go down, the maximum only up. */
function countLimits(previous: JsonSchema, next: JsonSchema, min: string, max: string, path: string, what: string, issues: CompatibilityIssue[]): void {
  const oldMin = typeof previous[min] === "number" ? (previous[min] as number) : 0;
  const newMin = typeof next[min] === "number" ? (next[min] as number) : 0;
  if (newMin > oldMin) issues.push({ path, problem: `${min} raised from ${oldMin} to ${newMin}: shorter ${what} are refused now` });
  const oldMax = typeof previous[max] === "number" ? (previous[max] as number) : Infinity;
  const newMax = typeof next[max] === "number" ? (next[max] as number) : Infinity;
  if (newMax < oldMax) issues.push({ path, problem: `${max} lowered from ${oldMax === Infinity ? "none" : oldMax} to ${newMax}: longer ${what} are refused now` });
}

function allowsExtra(schema: JsonSchema): Schema {
  const extra = schema.additionalProperties;
  return extra === undefined ? true : (extra as Schema);
}

function compareObjects(previous: JsonSchema, next: JsonSchema, path: string, sides: [Side, Side], issues: CompatibilityIssue[]): void {
  const oldProps = (previous.properties ?? {}) as Record<string, Schema>;
  const newProps = (next.properties ?? {}) as Record<string, Schema>;
  const oldRequired = new Set((previous.required ?? []) as string[]);
  const newRequired = new Set((next.required ?? []) as string[]);
  for (const [name, schema] of Object.entries(oldProps)) {
    const child = `${path}.${name}`;
    if (!(name in newProps)) {
      issues.push({ path: child, problem: "field removed (a receiver of the old release may read it)" });
      continue;
    }
    issues.push(...compareSchemas(schema, newProps[name]!, child, sides));
  }
  for (const name of newRequired) {
    if (oldRequired.has(name)) continue;
    issues.push({
      path: `${path}.${name}`,
      problem: name in oldProps ? "optional field became required" : "new required field (a sender of the old release does not send it)",
    });
  }
  // Fields neither schema names: whatever the old one let through must still get through.
  const oldExtra = allowsExtra(previous);
  const newExtra = allowsExtra(next);
  if (oldExtra !== false && !acceptsAll(newExtra)) {
    if (newExtra === false) issues.push({ path, problem: "unknown fields are refused now (additionalProperties: false)" });
    else issues.push(...compareSchemas(oldExtra, newExtra, `${path}.*`, sides));
  }
  // New named properties must accept what the old schema let through as "additional" (a field it did not know).
  for (const [name, schema] of Object.entries(newProps)) {
    if (name in oldProps || oldExtra === false || acceptsAll(resolve(schema, sides[1]))) continue;
    if (acceptsAll(oldExtra)) continue; // an open object: old senders did not send the field (it was unknown to them)
    issues.push(...compareSchemas(oldExtra, schema, `${path}.${name}`, sides));
  }
  if (next.propertyNames !== undefined) {
    if (previous.propertyNames === undefined) issues.push({ path, problem: "property names are constrained now" });
    else issues.push(...compareSchemas(previous.propertyNames as Schema, next.propertyNames as Schema, `${path}{keys}`, sides));
  }
  countLimits(previous, next, "minProperties", "maxProperties", path, "objects", issues);
}

function compareArrays(previous: JsonSchema, next: JsonSchema, path: string, sides: [Side, Side], issues: CompatibilityIssue[]): void {
  const oldPrefix = (previous.prefixItems ?? []) as Schema[];
  const newPrefix = (next.prefixItems ?? []) as Schema[];
  const oldItems = (previous.items ?? true) as Schema;
  const newItems = (next.items ?? true) as Schema;
  const positions = Math.max(oldPrefix.length, newPrefix.length);
  for (let i = 0; i < positions; i++) {
    const oldAt = oldPrefix[i] ?? oldItems;
    const newAt = newPrefix[i] ?? newItems;
    if (oldAt === false) continue;
    issues.push(...compareSchemas(oldAt, newAt, `${path}[${i}]`, sides));
  }
  if (oldItems !== false) issues.push(...compareSchemas(oldItems, newItems, `${path}[]`, sides));
  countLimits(previous, next, "minItems", "maxItems", path, "arrays", issues);
  if (next.uniqueItems === true && previous.uniqueItems !== true) issues.push({ path, problem: "items must be unique now" });
}

/** Issues that make `next` refuse something `previous` accepted (or drop a field it had). */
function compareSchemas(previousSchema: Schema, nextSchema: Schema, path: string, sides: [Side, Side]): CompatibilityIssue[] {
  const previous = resolve(previousSchema, sides[0]);
  const next = resolve(nextSchema, sides[1]);
  if (previous === false || next === true || acceptsAll(next)) return [];
  if (next === false) return [{ path, problem: "nothing is accepted any more" }];
  if (previous === true) return [{ path, problem: "constrained now where anything was accepted" }];
  const oldBranches = union(previous);
  if (oldBranches) return oldBranches.flatMap((branch, i) => compareSchemas(branch, next, oldBranches.length > 1 ? `${path}|${i}` : path, sides));
  const newBranches = union(next);
  if (newBranches) {
    let best: CompatibilityIssue[] | undefined;
    for (const branch of newBranches) {
      const issues = compareSchemas(previous, branch, path, sides);
      if (issues.length === 0) return [];
      if (!best || issues.length < best.length) best = issues;
    }
    return best ?? [{ path, problem: "an empty union accepts nothing" }];
  }

  const issues: CompatibilityIssue[] = [];
  for (const keyword of Object.keys(next)) {
    if (ANNOTATIONS.has(keyword) || MODELLED.has(keyword)) continue;
    if (!(keyword in previous) || !same(previous[keyword], next[keyword])) issues.push({ path, problem: `new or changed constraint "${keyword}"` });
  }

  const oldTypes = typesOf(previous);
  const newTypes = typesOf(next);
  if (newTypes) {
    if (!oldTypes) issues.push({ path, problem: `restricted to type ${[...newTypes].join(" | ")} where any type was accepted` });
    else for (const type of oldTypes) if (!admitsType(newTypes, type)) issues.push({ path, problem: `type ${type} is no longer accepted (now ${[...newTypes].join(" | ")})` });
  }

  const oldValues = literalValues(previous);
  const newValues = literalValues(next);
  if (newValues) {
    if (!oldValues) issues.push({ path, problem: `narrowed to ${newValues.length === 1 ? `the constant ${describe(newValues[0])}` : `the values ${describe(newValues)}`}` });
    else for (const value of oldValues) if (!newValues.some((v) => same(v, value))) issues.push({ path, problem: `value ${describe(value)} is no longer accepted` });
  }

  /** Type-specific keywords matter where both schemas admit values of that type. */
  const shared = (type: string) => admitsType(oldTypes, type) && admitsType(newTypes, type);
  if (shared("string")) {
    countLimits(previous, next, "minLength", "maxLength", path, "strings", issues);
    for (const keyword of ["pattern", "format"]) {
      if (next[keyword] !== undefined && next[keyword] !== previous[keyword]) {
        issues.push({ path, problem: previous[keyword] === undefined ? `new ${keyword} ${describe(next[keyword])}` : `${keyword} changed from ${describe(previous[keyword])} to ${describe(next[keyword])}` });
      }
    }
  }
  if (shared("number") || shared("integer")) {
    const [oldLow, newLow, oldHigh, newHigh] = [lowerBound(previous), lowerBound(next), upperBound(previous), upperBound(next)];
    if (!lowerWidened(oldLow, newLow)) issues.push({ path, problem: `lower bound tightened from ${boundText(oldLow, "min")} to ${boundText(newLow, "min")}` });
    if (!upperWidened(oldHigh, newHigh)) issues.push({ path, problem: `upper bound tightened from ${boundText(oldHigh, "max")} to ${boundText(newHigh, "max")}` });
    if (next.multipleOf !== undefined && (previous.multipleOf === undefined || (previous.multipleOf as number) % (next.multipleOf as number) !== 0)) {
      issues.push({ path, problem: `multipleOf ${describe(next.multipleOf)} is new or stricter` });
    }
  }
  if (shared("array")) compareArrays(previous, next, path, sides, issues);
  if (shared("object")) compareObjects(previous, next, path, sides, issues);
  return issues;
}

/** Issues that make `next` refuse a value `previous` accepted, or drop one of its fields. */
export function checkSchemaCompatibility(previous: JsonSchema, next: JsonSchema, path = "$"): CompatibilityIssue[] {
  return compareSchemas(previous, next, path, [{ root: previous }, { root: next }]);
}

function compareNamed<T>(section: string, previous: Record<string, T>, next: Record<string, T>, what: string, issues: CompatibilityIssue[], compare?: (a: T, b: T, path: string) => void): void {
  for (const [name, value] of Object.entries(previous)) {
    const path = `${section}.${name}`;
    if (!(name in next)) issues.push({ path, problem: `${what} removed (the previous release still uses it)` });
    else if (compare) compare(value, next[name]!, path);
    else if (!same(value, next[name])) issues.push({ path, problem: `${what} changed from ${describe(value)} to ${describe(next[name])}` });
  }
}

/** Everything that makes `next` not an additive change of `previous`; empty when it is one. */
export function checkContractCompatibility(previous: NatsContract, next: NatsContract): CompatibilityIssue[] {
  const issues: CompatibilityIssue[] = [];
  if (previous.format !== next.format) return [{ path: "format", problem: `snapshot format ${previous.format}, contract format ${next.format}: regenerate the snapshot` }];
  compareNamed("subjects", previous.subjects, next.subjects, "subject", issues, (a, b, path) => {
    if (a.pattern !== b.pattern) issues.push({ path, problem: `subject renamed from ${a.pattern} to ${b.pattern} (keep serving the old one)` });
    for (const [param, values] of Object.entries(a.values ?? {})) {
      const now = b.values?.[param];
      if (!now) continue; // any identifier now: wider
      for (const value of values) if (!now.includes(value)) issues.push({ path, problem: `${param} value ${describe(value)} removed: subject ${a.pattern.replace(`{${param}}`, value)} is gone` });
    }
  });
  compareNamed("streams", previous.streams, next.streams, "stream", issues);
  compareNamed("buckets", previous.buckets, next.buckets, "bucket", issues);
  compareNamed("queueGroups", previous.queueGroups, next.queueGroups, "queue group", issues);
  compareNamed("queues", previous.queues, next.queues, "queue", issues);
  compareNamed("messages", previous.messages, next.messages, "message", issues, (a, b, path) => {
    for (const where of a.on) if (!b.on.includes(where)) issues.push({ path, problem: `no longer travels on ${where}` });
    issues.push(...checkSchemaCompatibility(a.schema, b.schema, path));
  });
  return issues;
}

export function formatIssues(issues: readonly CompatibilityIssue[]): string {
  return issues.map((issue) => `  ${issue.path}: ${issue.problem}`).join("\n");
}
