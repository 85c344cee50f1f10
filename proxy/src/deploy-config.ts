/**
 * The route table as the two production deployments need it, derived from the same Traefik dynamic configuration
 * that proxy/traefik/dynamic.yml is rendered from (traefik-config.ts), so the file provider, the Docker labels of
 * docker-compose.yml and the Kubernetes IngressRoute cannot drift:
 *
 *   composeLabels(service)   the traefik.* labels of one compose service (Docker provider)
 *   buildKubernetesIngress() IngressRoute + Middleware + ServersTransport (Traefik CRDs, traefik.io/v1alpha1)
 *
 * render-deploy.ts writes them (`npm run render-compose` / `npm run render-kubernetes` in this workspace).
 */
import { Scalar, isMap, isScalar, parseDocument, stringify } from "yaml";
import { ROUTES, SERVICE_NAMES, SERVICE_PORTS, type RouteDefinition, type ServiceName } from "./routes.js";
import { TRAEFIK_RETRY_MIDDLEWARE, TRAEFIK_SERVERS_TRANSPORT, buildDynamicConfig } from "./traefik-config.js";

/** The one entry point routers listen on, in every deployment. */
export const WEBSECURE = "websecure";

interface DynamicRouter {
  rule: string;
  priority: number;
  service: ServiceName;
  entryPoints: string[];
  middlewares: string[];
}
interface DynamicService {
  loadBalancer: {
    healthCheck: { path: string; interval: string; timeout: string };
    passHostHeader: boolean;
    serversTransport: string;
  };
}
interface DynamicConfig {
  http: {
    routers: Record<string, DynamicRouter>;
    middlewares: Record<string, { retry: { attempts: number; initialInterval: string } }>;
    services: Record<ServiceName, DynamicService>;
    serversTransports: Record<string, { forwardingTimeouts: { dialTimeout: string; responseHeaderTimeout: string; idleConnTimeout: string } }>;
  };
}

function dynamicConfig(routes: readonly RouteDefinition[]): DynamicConfig {
  return buildDynamicConfig(routes) as unknown as DynamicConfig;
}

/** Compose interpolates `$` in every value; `$$` is a literal dollar. */
function composeEscape(value: string): string {
  return value.replace(/\$/g, "$$$$");
}

/**
 * The traefik.* labels of one compose service: `traefik.enable`, its routers (rule, priority, entry point, service,
 * retry middleware), the retry middleware itself (every routed container defines it identically, so it exists while
 * any of them runs), and its load balancer (port, health check). Routers set no TLS of their own: the websecure entry
 * point's TLS (default certificate, or the ACME resolver of docker-compose.acme.yml) applies. Values are escaped for
 * compose interpolation.
 */
export function composeLabels(service: ServiceName, routes: readonly RouteDefinition[] = ROUTES, ports = SERVICE_PORTS): Record<string, string> {
  const config = dynamicConfig(routes);
  const labels: Record<string, string> = { "traefik.enable": "true" };
  const names = Object.keys(config.http.routers).filter((name) => config.http.routers[name]!.service === service);
  if (names.length === 0) throw new Error(`no route leads to ${service}`);
  for (const name of names) {
    const router = config.http.routers[name]!;
    const prefix = `traefik.http.routers.${name}`;
    labels[`${prefix}.rule`] = router.rule;
    labels[`${prefix}.priority`] = String(router.priority);
    labels[`${prefix}.entrypoints`] = router.entryPoints.join(",");
    labels[`${prefix}.service`] = router.service;
    labels[`${prefix}.middlewares`] = router.middlewares.join(",");
  }
  for (const [name, middleware] of Object.entries(config.http.middlewares)) {
    labels[`traefik.http.middlewares.${name}.retry.attempts`] = String(middleware.retry.attempts);
    labels[`traefik.http.middlewares.${name}.retry.initialinterval`] = middleware.retry.initialInterval;
  }
  const lb = config.http.services[service].loadBalancer;
  const prefix = `traefik.http.services.${service}.loadbalancer`;
  labels[`${prefix}.server.port`] = String(ports[service]);
  labels[`${prefix}.healthcheck.path`] = lb.healthCheck.path;
  labels[`${prefix}.healthcheck.interval`] = lb.healthCheck.interval;
  labels[`${prefix}.healthcheck.timeout`] = lb.healthCheck.timeout;
  labels[`${prefix}.passhostheader`] = String(lb.passHostHeader);
  return Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, composeEscape(value)]));
}

/** The Docker provider has no serversTransport objects: compose sets the same timeouts as Traefik's static default. */
export function serversTransportTimeouts(routes: readonly RouteDefinition[] = ROUTES) {
  return dynamicConfig(routes).http.serversTransports[TRAEFIK_SERVERS_TRANSPORT]!.forwardingTimeouts;
}

export const COMPOSE_FILE = "docker-compose.yml";
const LABELS_COMMENT = " Generated from proxy/src/routes.ts: npm run render-compose -w @patchmon-ws/edge";

/**
 * docker-compose.yml with every routed service's `labels` replaced by composeLabels(service); everything else (comments,
 * anchors, layout) is kept as written. Throws when a routed service is missing from the file.
 */
export function renderComposeLabels(text: string, services: readonly ServiceName[] = SERVICE_NAMES): string {
  const doc = parseDocument(text);
  for (const service of services) {
    if (!doc.hasIn(["services", service])) throw new Error(`${COMPOSE_FILE} has no service ${service}`);
    const labels = doc.createNode(composeLabels(service));
    if (!isMap(labels)) throw new Error("labels must be a map");
    for (const pair of labels.items) {
      if (isScalar(pair.value)) pair.value.type = Scalar.QUOTE_DOUBLE;
    }
    doc.setIn(["services", service, "labels"], labels);
    const serviceNode = doc.getIn(["services", service], true);
    const pair = isMap(serviceNode) ? serviceNode.items.find((item) => isScalar(item.key) && item.key.value === "labels") : undefined;
    if (pair && isScalar(pair.key)) pair.key.commentBefore = LABELS_COMMENT;
  }
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

export const KUBERNETES_NAMESPACE = "patchmon-ws";
export const KUBERNETES_INGRESS_FILE = "deploy/kubernetes/traefik/ingressroute.yaml";

/** A Kubernetes object as plain data. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec: Record<string, unknown> };

const LABELS = { "app.kubernetes.io/part-of": "patchmon-ws", "app.kubernetes.io/component": "ingress" };

/**
 * The Traefik CRDs for Kubernetes: one IngressRoute with a route per router of the table (same rule and priority, on
 * websecure, to the Kubernetes Service of the same name and port), the retry middleware and the long-lived servers
 * transport. Health: Kubernetes only sends traffic to ready pods (readiness probe /readyz), so no Traefik health check.
 */
export function buildKubernetesIngress(routes: readonly RouteDefinition[] = ROUTES, ports = SERVICE_PORTS, namespace = KUBERNETES_NAMESPACE): Manifest[] {
  const config = dynamicConfig(routes);
  const ingress: Manifest = {
    apiVersion: "traefik.io/v1alpha1",
    kind: "IngressRoute",
    metadata: { name: "patchmon-ws", namespace, labels: LABELS },
    spec: {
      entryPoints: [WEBSECURE],
      routes: Object.values(config.http.routers).map((router) => ({
        kind: "Rule",
        match: router.rule,
        priority: router.priority,
        middlewares: router.middlewares.map((name) => ({ name })),
        services: [
          {
            kind: "Service",
            name: router.service,
            port: ports[router.service],
            passHostHeader: config.http.services[router.service].loadBalancer.passHostHeader,
            serversTransport: config.http.services[router.service].loadBalancer.serversTransport,
          },
        ],
      })),
      // Traefik's default certificate unless its TLS store or a certResolver (Helm values) says otherwise.
      tls: {},
    },
  };
  const middlewares: Manifest[] = Object.entries(config.http.middlewares).map(([name, middleware]) => ({
    apiVersion: "traefik.io/v1alpha1",
    kind: "Middleware",
    metadata: { name, namespace, labels: LABELS },
    spec: { retry: { ...middleware.retry } },
  }));
  const transports: Manifest[] = Object.entries(config.http.serversTransports).map(([name, transport]) => ({
    apiVersion: "traefik.io/v1alpha1",
    kind: "ServersTransport",
    metadata: { name, namespace, labels: LABELS },
    spec: { forwardingTimeouts: { ...transport.forwardingTimeouts } },
  }));
  return [ingress, ...middlewares, ...transports];
}

export const KUBERNETES_INGRESS_HEADER = [
  "# Traefik CRDs (traefik.io/v1alpha1) for patchmon-ws: the route table of proxy/src/routes.ts on Kubernetes.",
  "# GENERATED by `npm run render-kubernetes -w @patchmon-ws/edge`; do not edit by hand.",
  "# test/deploy/kubernetes.test.ts fails when this file and the route table differ.",
];

export function renderKubernetesIngress(routes: readonly RouteDefinition[] = ROUTES): string {
  const documents = buildKubernetesIngress(routes).map((manifest) => stringify(manifest, { lineWidth: 0 }));
  return `${KUBERNETES_INGRESS_HEADER.join("\n")}\n${documents.map((d) => `---\n${d}`).join("")}`;
}

export { TRAEFIK_RETRY_MIDDLEWARE, TRAEFIK_SERVERS_TRANSPORT };
