/**
 * THE route table: the one place that says which service answers which path. The local edge compiles it at start-up
 * and `render-traefik.ts` generates Traefik's dynamic configuration from it; a test keeps both in step.
 *
 * Rules use Traefik v3 syntax. Priorities are explicit and distinct: Traefik sorts routers by priority only and
 * leaves ties in no defined order, so two equal priorities would make routing depend on luck.
 */

/** A service the edge forwards to; every replica of it answers the same paths. */
export type ServiceName = "agent-ws" | "terminal-ws" | "bullboard" | "auth" | "web";

/** One route; `S` is the product's service names, widened to string only for a route table a test brings (a fixture service). */
export interface RouteDefinition<S extends string = ServiceName> {
  /** Router name (also the Traefik router key). */
  readonly name: string;
  /** Traefik v3 rule. */
  readonly rule: string;
  /** Higher wins; Traefik's default when unset is the rule's length, so we always set it. */
  readonly priority: number;
  readonly service: S;
  /** Why this route exists, for the generated Traefik file. */
  readonly description: string;
}

export const ROUTES: readonly RouteDefinition[] = [
  {
    name: "agent-ws",
    rule: "PathRegexp(`^/api/[^/]+/agents/`)",
    priority: 100,
    service: "agent-ws",
    description: "Agent WebSocket (/api/{version}/agents/ws) and the agent command API",
  },
  {
    name: "terminal-ws",
    rule: "PathRegexp(`^/api/[^/]+/ssh-terminal/`)",
    priority: 90,
    service: "terminal-ws",
    description: "Browser SSH terminal WebSocket (/api/{version}/ssh-terminal/{hostId})",
  },
  {
    name: "terminal-api",
    rule: "PathPrefix(`/api/v1/terminal/`)",
    priority: 85,
    service: "terminal-ws",
    description: "Terminal sessions, audit and recordings for admins (/api/v1/terminal/*)",
  },
  {
    name: "bullboard",
    rule: "PathPrefix(`/bullboard`)",
    priority: 80,
    service: "bullboard",
    description: "Bull Board queue dashboard (PathPrefix is a plain string prefix: /bullboardx matches too)",
  },
  {
    name: "auth",
    rule: "PathPrefix(`/api/v1/auth`) || PathPrefix(`/api/v1/users`) || PathPrefix(`/api/v1/hosts`)",
    priority: 70,
    service: "auth",
    description: "Login, tokens, tickets, user and host management",
  },
  {
    // Traefik can only answer with a body through a backend, and every service answers unknown paths with
    // 404 {"error","code":"NOT_FOUND"}; auth takes that role so unknown API paths never reach the web UI.
    name: "api-not-found",
    rule: "PathPrefix(`/api/`)",
    priority: 20,
    service: "auth",
    description: "Any other /api/ path: answered 404 JSON by auth's not-found handler, never by the web UI",
  },
  {
    name: "web",
    rule: "PathPrefix(`/`)",
    priority: 1,
    service: "web",
    description: "Static web UI (lowest priority: everything no other route claims)",
  },
];

/** Every service some route forwards to. */
export const SERVICE_NAMES: readonly ServiceName[] = [...new Set(ROUTES.map((route) => route.service))];

/**
 * Where each service listens inside the container network (docker compose service name and port); Traefik's
 * generated load balancers point at `http://<service>:<port>`. Keep in step with each service's PORT in compose.
 */
export const SERVICE_PORTS: Readonly<Record<ServiceName, number>> = {
  "agent-ws": 3002,
  "terminal-ws": 3003,
  bullboard: 3004,
  auth: 3001,
  web: 8080,
};

export function isServiceName(value: string): value is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(value);
}
