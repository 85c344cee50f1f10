import { describe, expect, it } from "vitest";
import { parseRule, RuleSyntaxError } from "../src/rule-parser.js";
import { compileRule, RuleError } from "../src/rule-matchers.js";

const at = (path: string, host = "example.com") => ({ path, host });

describe("parseRule", () => {
  it("parses backtick and double-quoted arguments", () => {
    expect(parseRule("Path(`/a`)")).toEqual({ kind: "matcher", name: "Path", args: ["/a"] });
    expect(parseRule('Path("/a\\"b\\\\c\\x41\\u00e9")')).toEqual({ kind: "matcher", name: "Path", args: ['/a"b\\cAé'] });
  });

  it("keeps backslashes in raw strings as written", () => {
    expect(parseRule("PathRegexp(`^/a\\d+$`)")).toEqual({ kind: "matcher", name: "PathRegexp", args: ["^/a\\d+$"] });
  });

  it("gives && precedence over ||, and honours parentheses and !", () => {
    expect(parseRule("Path(`/a`) || Path(`/b`) && Host(`x`)")).toEqual({
      kind: "or",
      left: { kind: "matcher", name: "Path", args: ["/a"] },
      right: { kind: "and", left: { kind: "matcher", name: "Path", args: ["/b"] }, right: { kind: "matcher", name: "Host", args: ["x"] } },
    });
    expect(parseRule("!(Path(`/a`) || Path(`/b`))")).toEqual({
      kind: "not",
      operand: { kind: "or", left: { kind: "matcher", name: "Path", args: ["/a"] }, right: { kind: "matcher", name: "Path", args: ["/b"] } },
    });
  });

  it.each([
    ["", "empty rule"],
    ["Path(`/a`", "expected ')'"],
    ["Path(`/a)", "unterminated backtick"],
    ["Path('/a')", "single quotes"],
    ["Path(`/a`) & Path(`/b`)", "expected &&"],
    ["Path(`/a`) Path(`/b`)", "unexpected input"],
    ["Path(/a)", "unexpected character"],
    ['Path("/a\\q")', "unknown escape"],
    ["(Path(`/a`)", "expected ')'"],
  ])("rejects %j (%s)", (rule, problem) => {
    expect(() => parseRule(rule)).toThrow(RuleSyntaxError);
    expect(() => parseRule(rule)).toThrow(problem);
  });
});

describe("compileRule", () => {
  it("Path matches the whole path only", () => {
    const m = compileRule("Path(`/api/v1/auth/login`)");
    expect(m(at("/api/v1/auth/login"))).toBe(true);
    expect(m(at("/api/v1/auth/login/"))).toBe(false);
    expect(m(at("/api/v1/auth"))).toBe(false);
  });

  it("PathPrefix is a plain string prefix, as in Traefik v3: /bullboard matches /bullboardx", () => {
    const m = compileRule("PathPrefix(`/bullboard`)");
    expect(m(at("/bullboard"))).toBe(true);
    expect(m(at("/bullboard/api/queues"))).toBe(true);
    expect(m(at("/bullboardx"))).toBe(true);
    expect(m(at("/bull"))).toBe(false);
    expect(m(at("/x/bullboard"))).toBe(false);
  });

  it("PathRegexp searches (unanchored unless the pattern anchors) with Go syntax", () => {
    const m = compileRule("PathRegexp(`^/api/[^/]+/agents/`)");
    expect(m(at("/api/v1/agents/ws"))).toBe(true);
    expect(m(at("/api/v2/agents/"))).toBe(true);
    expect(m(at("/api/v1/agents"))).toBe(false);
    expect(m(at("/api/v1/x/agents/ws"))).toBe(false);
    expect(compileRule("PathRegexp(`agents`)")(at("/api/v1/agents/ws"))).toBe(true);
    expect(compileRule("PathRegexp(`(?i)^/API/`)")(at("/api/x"))).toBe(true);
    expect(compileRule("PathRegexp(`^/(?P<v>v[0-9]+)\\z`)")(at("/v12"))).toBe(true);
  });

  it("Host compares case-insensitively, ignoring a trailing dot", () => {
    const m = compileRule("Host(`PatchMon.Example.com`)");
    expect(m(at("/", "patchmon.example.com"))).toBe(true);
    expect(m(at("/", "patchmon.example.com."))).toBe(true);
    expect(m(at("/", "other.example.com"))).toBe(false);
    expect(m(at("/", ""))).toBe(false);
  });

  it("combines matchers with &&, || and !", () => {
    const m = compileRule("Host(`a.test`) && (PathPrefix(`/x`) || PathPrefix(`/y`)) && !Path(`/x/private`)");
    expect(m(at("/x/1", "a.test"))).toBe(true);
    expect(m(at("/y", "a.test"))).toBe(true);
    expect(m(at("/x/private", "a.test"))).toBe(false);
    expect(m(at("/x/1", "b.test"))).toBe(false);
    expect(m(at("/z", "a.test"))).toBe(false);
  });

  it("accepts matcher names in Traefik's case variants", () => {
    for (const name of ["PathPrefix", "pathprefix", "PATHPREFIX", "Pathprefix"]) {
      expect(compileRule(`${name}(\`/a\`)`)(at("/ab"))).toBe(true);
    }
    expect(() => compileRule("pathPrefix(`/a`)")).toThrow(RuleError);
  });

  it.each([
    ["Header(`X-A`, `b`)", "unsupported matcher Header"],
    ["Path(`a`)", "does not start with a '/'"],
    ["PathPrefix(`a`)", "does not start with a '/'"],
    ["Path(`/a`, `/b`)", "expected 1"],
    ["Path()", "expected 1"],
    ["PathRegexp(`(`)", "compiling PathRegexp"],
    ["PathRegexp(`[[:alpha:]]`)", "POSIX character classes"],
    ["PathRegexp(`(?U)a`)", "(?U)"],
    ["Host(`bücher.example`)", "non-ASCII"],
  ])("rejects %s at compile time", (rule, problem) => {
    expect(() => compileRule(rule)).toThrow(RuleError);
    expect(() => compileRule(rule)).toThrow(problem);
  });
});
