import { parseRule, type RuleNode } from "./rule-parser.js";

/** What a rule looks at: the routing path (see request-path.ts) and the canonical host (lower case, no port). */
export interface RequestFacts {
  readonly path: string;
  readonly host: string;
}

export type RequestMatcher = (facts: RequestFacts) => boolean;

export class RuleError extends Error {
  constructor(rule: string, problem: string) {
    super(`invalid rule ${JSON.stringify(rule)}: ${problem}`);
    this.name = "RuleError";
  }
}

type MatcherBuilder = (value: string, fail: (problem: string) => never) => RequestMatcher;

/** The subset of Traefik v3 matchers the route table uses, with Traefik's semantics (pkg/muxer/http/matcher.go). */
const BUILDERS: Record<string, MatcherBuilder> = {
  Path: (path, fail) => {
    if (!path.startsWith("/")) fail(`path ${JSON.stringify(path)} does not start with a '/'`);
    return (facts) => facts.path === path;
  },
  // Traefik v3 PathPrefix is a plain string prefix (no segment boundary): PathPrefix(`/a`) matches /ab.
  PathPrefix: (prefix, fail) => {
    if (!prefix.startsWith("/")) fail(`path ${JSON.stringify(prefix)} does not start with a '/'`);
    return (facts) => facts.path.startsWith(prefix);
  },
  // Go's regexp.MatchString: unanchored search; anchors belong in the pattern.
  PathRegexp: (pattern, fail) => {
    const regexp = goRegexp(pattern, fail);
    return (facts) => regexp.test(facts.path);
  },
  Host: (host, fail) => {
    if (!/^[\x00-\x7f]*$/.test(host)) fail(`invalid value ${JSON.stringify(host)} for Host matcher, non-ASCII characters are not allowed`);
    const wanted = host.toLowerCase();
    const bare = wanted.endsWith(".") ? wanted.slice(0, -1) : wanted;
    return (facts) => {
      if (!facts.host) return false;
      const actual = facts.host.endsWith(".") ? facts.host.slice(0, -1) : facts.host;
      return facts.host === wanted || actual === bare;
    };
  },
};

/**
 * Traefik accepts each matcher name as written, in lower case, in upper case, and capitalised (pkg/rules/parser.go),
 * so `pathprefix`, `PATHPREFIX` and `Pathprefix` all mean PathPrefix.
 */
const MATCHER_NAMES = new Map<string, string>();
for (const name of Object.keys(BUILDERS)) {
  const lower = name.toLowerCase();
  for (const variant of [name, lower, name.toUpperCase(), lower[0]!.toUpperCase() + lower.slice(1)]) {
    MATCHER_NAMES.set(variant, name);
  }
}

/**
 * Compiles Go (RE2) syntax to a JavaScript RegExp for the constructs that differ in spelling: leading inline flags
 * `(?i)`, `(?s)`, `(?m)`, named groups `(?P<name>`, and `\A` / `\z`. The `u` flag makes JavaScript reject what it
 * cannot express (POSIX classes such as `[[:alpha:]]` among them) instead of silently matching something else.
 */
function goRegexp(pattern: string, fail: (problem: string) => never): RegExp {
  let source = pattern;
  let flags = "u";
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (inline) {
    for (const flag of inline[1]!) {
      if (!"ism".includes(flag)) fail(`regexp flag (?${flag}) is not supported by the local edge`);
      if (!flags.includes(flag)) flags += flag;
    }
    source = source.slice(inline[0].length);
  }
  if (source.includes("[[:")) fail("POSIX character classes ([[:alpha:]]) are not supported by the local edge");
  source = source.replace(/\(\?P</g, "(?<").replace(/\\A/g, "^").replace(/\\z/g, "$");
  try {
    return new RegExp(source, flags);
  } catch (err) {
    return fail(`compiling PathRegexp matcher: ${(err as Error).message}`);
  }
}

function compileNode(node: RuleNode, rule: string): RequestMatcher {
  const fail = (problem: string): never => {
    throw new RuleError(rule, problem);
  };
  switch (node.kind) {
    case "and": {
      const left = compileNode(node.left, rule);
      const right = compileNode(node.right, rule);
      return (facts) => left(facts) && right(facts);
    }
    case "or": {
      const left = compileNode(node.left, rule);
      const right = compileNode(node.right, rule);
      return (facts) => left(facts) || right(facts);
    }
    case "not": {
      const operand = compileNode(node.operand, rule);
      return (facts) => !operand(facts);
    }
    case "matcher": {
      const canonical = MATCHER_NAMES.get(node.name);
      if (!canonical) {
        return fail(`unsupported matcher ${node.name} (the local edge supports ${Object.keys(BUILDERS).join(", ")})`);
      }
      if (node.args.length !== 1) {
        return fail(`${canonical}: unexpected number of parameters; got ${node.args.length}, expected 1`);
      }
      return BUILDERS[canonical]!(node.args[0]!, fail);
    }
  }
}

/** Parses and compiles a Traefik v3 rule once; the result is a pure predicate over request facts. */
export function compileRule(rule: string): RequestMatcher {
  return compileNode(parseRule(rule), rule);
}
