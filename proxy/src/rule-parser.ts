/**
 * Parser for the Traefik v3 rule syntax: matcher calls with string arguments (backtick raw strings or double-quoted
 * Go strings), combined with `&&`, `||`, `!` and parentheses. `&&` binds tighter than `||`, as in Go, whose
 * expression parser Traefik uses. This module knows the syntax only; `rule-matchers.ts` gives the calls meaning.
 */

export type RuleNode =
  | { readonly kind: "matcher"; readonly name: string; readonly args: readonly string[] }
  | { readonly kind: "not"; readonly operand: RuleNode }
  | { readonly kind: "and" | "or"; readonly left: RuleNode; readonly right: RuleNode };

export class RuleSyntaxError extends Error {
  constructor(rule: string, position: number, problem: string) {
    super(`invalid rule ${JSON.stringify(rule)} at offset ${position}: ${problem}`);
    this.name = "RuleSyntaxError";
  }
}

type Token =
  | { type: "ident"; value: string; at: number }
  | { type: "string"; value: string; at: number }
  | { type: "(" | ")" | "," | "&&" | "||" | "!" | "end"; at: number };

/** Go's simple escapes inside double-quoted strings. */
const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

function tokenize(rule: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (problem: string, at = i): never => {
    throw new RuleSyntaxError(rule, at, problem);
  };
  while (i < rule.length) {
    const c = rule[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "(" || c === ")" || c === "," || c === "!") {
      tokens.push({ type: c, at: i });
      i++;
    } else if (c === "&" || c === "|") {
      if (rule[i + 1] !== c) fail(`expected ${c}${c}`);
      tokens.push({ type: c === "&" ? "&&" : "||", at: i });
      i += 2;
    } else if (c === "`") {
      const end = rule.indexOf("`", i + 1);
      if (end < 0) fail("unterminated backtick string");
      tokens.push({ type: "string", value: rule.slice(i + 1, end), at: i });
      i = end + 1;
    } else if (c === '"') {
      const start = i;
      let value = "";
      i++;
      for (;;) {
        if (i >= rule.length) fail("unterminated double-quoted string", start);
        const d = rule[i]!;
        if (d === '"') break;
        if (d === "\n") fail("newline in double-quoted string");
        if (d !== "\\") {
          value += d;
          i++;
          continue;
        }
        const e = rule[i + 1] ?? "";
        if (e in SIMPLE_ESCAPES) {
          value += SIMPLE_ESCAPES[e];
          i += 2;
        } else if (e === "x" || e === "u" || e === "U") {
          const digits = e === "x" ? 2 : e === "u" ? 4 : 8;
          const hex = rule.slice(i + 2, i + 2 + digits);
          if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) fail(`invalid \\${e} escape`);
          value += String.fromCodePoint(parseInt(hex, 16));
          i += 2 + digits;
        } else {
          fail(`unknown escape \\${e}`);
        }
      }
      tokens.push({ type: "string", value, at: start });
      i++;
    } else if (/[A-Za-z]/.test(c)) {
      const match = /^[A-Za-z][A-Za-z0-9]*/.exec(rule.slice(i))!;
      tokens.push({ type: "ident", value: match[0], at: i });
      i += match[0].length;
    } else if (c === "'") {
      fail("single quotes are not accepted; use backticks or double quotes");
    } else {
      fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }
  tokens.push({ type: "end", at: rule.length });
  return tokens;
}

/** Parses a rule into a tree; throws RuleSyntaxError naming the offset of the first problem. */
export function parseRule(rule: string): RuleNode {
  const tokens = tokenize(rule);
  let index = 0;
  const peek = () => tokens[index]!;
  const fail = (problem: string): never => {
    throw new RuleSyntaxError(rule, peek().at, problem);
  };
  const expect = (type: Token["type"], what: string) => {
    if (peek().type !== type) fail(`expected ${what}`);
    return tokens[index++]!;
  };

  const parseOr = (): RuleNode => {
    let left = parseAnd();
    while (peek().type === "||") {
      index++;
      left = { kind: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): RuleNode => {
    let left = parseUnary();
    while (peek().type === "&&") {
      index++;
      left = { kind: "and", left, right: parseUnary() };
    }
    return left;
  };
  const parseUnary = (): RuleNode => {
    if (peek().type === "!") {
      index++;
      return { kind: "not", operand: parseUnary() };
    }
    if (peek().type === "(") {
      index++;
      const inner = parseOr();
      expect(")", "')'");
      return inner;
    }
    const name = expect("ident", "a matcher such as PathPrefix(`/x`)") as { value: string };
    expect("(", `'(' after ${name.value}`);
    const args: string[] = [];
    if (peek().type !== ")") {
      for (;;) {
        args.push((expect("string", "a quoted argument") as { value: string }).value);
        if (peek().type !== ",") break;
        index++;
      }
    }
    expect(")", "')' or ','");
    return { kind: "matcher", name: name.value, args };
  };

  if (peek().type === "end") fail("empty rule");
  const tree = parseOr();
  if (peek().type !== "end") fail("unexpected input after the rule");
  return tree;
}
