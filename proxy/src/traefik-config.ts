import { ROUTES, SERVICE_PORTS, type RouteDefinition, type ServiceName } from "./routes.js";

/**
 * Traefik's dynamic configuration (file provider), generated from the route table so production routing and the
 * local edge cannot drift. Rendered to YAML by a small emitter: every string is written as a JSON string, which is a
 * valid YAML double-quoted scalar, so rules with backticks, `||` and regexps need no escaping thought.
 */

/** Health check of every load balancer (Traefik: 2xx/3xx healthy; interval must exceed timeout). */
export const TRAEFIK_HEALTH_CHECK = { path: "/healthz", interval: "5s", timeout: "3s" } as const;
/** Transport for long-lived WebSockets: no response-header deadline, quick dial failure so failover is fast. */
export const TRAEFIK_SERVERS_TRANSPORT = "long-lived";
/**
 * Every router retries a request whose connection to a replica failed before any answer (the retry middleware stops
 * as soon as a server answers), as the local edge fails over to the next replica.
 */
export const TRAEFIK_RETRY_MIDDLEWARE = "retry-connect";

type YamlValue = string | number | boolean | YamlValue[] | { [key: string]: YamlValue };

export function buildDynamicConfig(
  routes: readonly RouteDefinition[] = ROUTES,
  ports: Readonly<Record<ServiceName, number>> = SERVICE_PORTS,
): { [key: string]: YamlValue } {
  const routers: { [key: string]: YamlValue } = {};
  for (const route of routes) {
    routers[route.name] = {
      rule: route.rule,
      priority: route.priority,
      service: route.service,
      entryPoints: ["websecure"],
      middlewares: [TRAEFIK_RETRY_MIDDLEWARE],
      tls: {},
    };
  }
  const services: { [key: string]: YamlValue } = {};
  for (const service of [...new Set(routes.map((r) => r.service))]) {
    services[service] = {
      loadBalancer: {
        servers: [{ url: `http://${service}:${ports[service]}` }],
        healthCheck: { ...TRAEFIK_HEALTH_CHECK },
        passHostHeader: true,
        serversTransport: TRAEFIK_SERVERS_TRANSPORT,
      },
    };
  }
  return {
    http: {
      routers,
      middlewares: { [TRAEFIK_RETRY_MIDDLEWARE]: { retry: { attempts: 3, initialInterval: "50ms" } } },
      services,
      serversTransports: {
        [TRAEFIK_SERVERS_TRANSPORT]: {
          forwardingTimeouts: { dialTimeout: "5s", responseHeaderTimeout: "0s", idleConnTimeout: "90s" },
        },
      },
    },
    tls: { options: { default: { minVersion: "VersionTLS12", sniStrict: false } } },
  };
}

function scalar(value: string | number | boolean): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function key(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}

function isScalar(value: YamlValue): value is string | number | boolean {
  return typeof value !== "object";
}

function emit(value: { [key: string]: YamlValue }, indent: string, comments: Map<object, string>, lines: string[]): void {
  for (const [name, child] of Object.entries(value)) {
    const comment = typeof child === "object" ? comments.get(child) : undefined;
    if (comment) lines.push(`${indent}# ${comment}`);
    if (isScalar(child)) {
      lines.push(`${indent}${key(name)}: ${scalar(child)}`);
    } else if (Array.isArray(child)) {
      if (child.every(isScalar)) {
        lines.push(`${indent}${key(name)}: [${child.map((c) => scalar(c as string)).join(", ")}]`);
        continue;
      }
      lines.push(`${indent}${key(name)}:`);
      for (const item of child) {
        if (isScalar(item) || Array.isArray(item)) throw new Error("nested arrays are not emitted");
        const itemLines: string[] = [];
        emit(item, `${indent}    `, comments, itemLines);
        itemLines[0] = `${indent}  - ${itemLines[0]!.trimStart()}`;
        lines.push(...itemLines);
      }
    } else if (Object.keys(child).length === 0) {
      lines.push(`${indent}${key(name)}: {}`);
    } else {
      lines.push(`${indent}${key(name)}:`);
      emit(child, `${indent}  `, comments, lines);
    }
  }
}

export const DYNAMIC_YAML_HEADER = [
  "# Traefik v3 dynamic configuration (file provider).",
  "# GENERATED from proxy/src/routes.ts by `npm run render-traefik -w @patchmon-ws/edge`; do not edit by hand.",
  "# proxy/test/traefik-config.test.ts fails when this file and the route table differ.",
];

/** The YAML text of dynamic.yml, with each router's description as a comment. */
export function renderDynamicYaml(routes: readonly RouteDefinition[] = ROUTES): string {
  const config = buildDynamicConfig(routes);
  const comments = new Map<object, string>();
  const routers = (config.http as { routers: { [key: string]: YamlValue } }).routers;
  for (const route of routes) comments.set(routers[route.name] as object, route.description);
  const lines = [...DYNAMIC_YAML_HEADER, ""];
  emit(config, "", comments, lines);
  return lines.join("\n") + "\n";
}
