import { compileRule, type RequestFacts, type RequestMatcher } from "./rule-matchers.js";
import type { RouteDefinition } from "./routes.js";

interface CompiledRoute {
  readonly route: RouteDefinition<string>;
  readonly matches: RequestMatcher;
}

/**
 * Picks the route for a request the way Traefik's muxer does: routes are tried by descending priority and the first
 * whose rule matches wins. Rules are compiled once, here, so a bad rule stops the edge at start-up.
 */
export class Router {
  private readonly compiled: CompiledRoute[];

  constructor(routes: readonly RouteDefinition<string>[]) {
    const names = new Set<string>();
    for (const route of routes) {
      if (names.has(route.name)) throw new Error(`duplicate route name ${JSON.stringify(route.name)}`);
      names.add(route.name);
    }
    this.compiled = routes
      .map((route) => ({
        route,
        matches: compileRule(route.rule),
        // Traefik: priority 0 (or unset) means "the length of the rule".
        priority: route.priority > 0 ? route.priority : route.rule.length,
      }))
      // Stable order for equal priorities (Traefik leaves them undefined; the table avoids them).
      .sort((a, b) => b.priority - a.priority || a.route.name.localeCompare(b.route.name))
      .map(({ route, matches }) => ({ route, matches }));
  }

  /** The winning route, or undefined when no rule matches (the edge answers 404). */
  match(facts: RequestFacts): RouteDefinition<string> | undefined {
    return this.compiled.find((candidate) => candidate.matches(facts))?.route;
  }

  /** Routes in the order they are tried. */
  get routes(): RouteDefinition<string>[] {
    return this.compiled.map((c) => c.route);
  }
}

/**
 * The host as Traefik's Host matcher sees it: the Host header without its port (and without IPv6 brackets),
 * in lower case.
 */
export function canonicalHost(hostHeader: string | undefined): string {
  if (!hostHeader) return "";
  const host = hostHeader.trim();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return (end > 0 ? host.slice(1, end) : host).toLowerCase();
  }
  const colons = host.split(":").length - 1;
  // One colon: name or IPv4 with a port. More: a bare IPv6 address, kept whole.
  return (colons === 1 ? host.slice(0, host.indexOf(":")) : host).toLowerCase();
}
