/**
 * deploy/kubernetes (kustomize): every manifest validated with kubernetes-models (and the Traefik CRD models), the
 * IngressRoute against the route table, and what a demanding operator expects of each workload: probes, resources,
 * the restricted Pod Security Standard, disruption budgets, a three-node JetStream cluster with KV_REPLICAS=3,
 * Redis on a volume, autoscaling of the socket-holding services, Traefik without dashboard or trusted client headers.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Namespace, ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { IngressRoute, Middleware, ServersTransport } from "@kubernetes-models/traefik/traefik.io/v1alpha1";
import { ROUTES, SERVICE_NAMES, SERVICE_PORTS } from "../../proxy/src/routes.js";
import { KUBERNETES_INGRESS_FILE, renderKubernetesIngress, serversTransportTimeouts } from "../../proxy/src/deploy-config.js";
import {
  SERVICE_CONFIGS,
  flatToTraefikConfig,
  isPinnedImage,
  kustomizeResources,
  read,
  readCompose,
  readManifests,
  requiredVariables,
  traefikSchema,
  type Manifest,
} from "./support.js";

const DIR = "deploy/kubernetes";
const resources = kustomizeResources(DIR);
const manifests = resources.map((r) => r.manifest);
const kustomization = parse(read(`${DIR}/kustomization.yaml`)) as { namespace: string; resources: string[]; images: { name: string; newTag: string }[] };
const compose = readCompose("docker-compose.yml");

const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
const all = (kind: string) => manifests.filter((m) => m.kind === kind);

/** The model class of each apiVersion/kind used here. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "traefik.io/v1alpha1/IngressRoute": IngressRoute,
  "traefik.io/v1alpha1/Middleware": Middleware,
  "traefik.io/v1alpha1/ServersTransport": ServersTransport,
};

function validateManifest(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`no model for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest).validate();
}

/** Every pod template: Deployments and StatefulSets. */
const workloads = manifests.filter((m) => m.kind === "Deployment" || m.kind === "StatefulSet");

describe("the kustomization", () => {
  it("lists files that exist, in the patchmon-ws namespace, and never the example secret", () => {
    expect(kustomization.namespace).toBe("patchmon-ws");
    expect(resources.length).toBeGreaterThan(20);
    expect(kustomization.resources).not.toContain("secret.example.yaml");
    expect(find("Namespace", "patchmon-ws")).toBeDefined();
  });

  it("pins each service image to the project's version", () => {
    const version = (JSON.parse(read("package.json")) as { version: string }).version;
    expect(kustomization.images.map((i) => i.name).sort()).toEqual(SERVICE_NAMES.map((s) => `patchmon-ws/${s}`).sort());
    for (const image of kustomization.images) expect(image.newTag).toBe(version);
  });
});

describe("every manifest", () => {
  it.each(resources.map((r) => [`${r.file.replace(`${DIR}/`, "")}: ${r.manifest.kind} ${r.manifest.metadata.name}`, r.manifest] as const))(
    "%s validates with kubernetes-models",
    (_name, manifest) => {
      expect(() => validateManifest(manifest)).not.toThrow();
    },
  );

  it("validation can fail: a wrong type and a missing required field are reported", () => {
    const deployment = structuredClone(find("Deployment", "auth")!);
    deployment.spec.replicas = "two";
    expect(() => validateManifest(deployment)).toThrow(/replicas/);
    const ingress = structuredClone(find("IngressRoute", "patchmon-ws")!);
    delete ingress.spec.routes[0].match;
    expect(() => validateManifest(ingress)).toThrow(/match/);
  });

  it("the example secret validates too, and holds every variable a service requires without a default", () => {
    const [secret] = readManifests(`${DIR}/secret.example.yaml`).map((r) => r.manifest);
    expect(() => validateManifest(secret!)).not.toThrow();
    const keys = Object.keys(secret!.stringData as Record<string, string>);
    for (const name of SERVICE_NAMES) for (const variable of requiredVariables(SERVICE_CONFIGS[name])) expect(keys, variable).toContain(variable);
    // Placeholders, clearly marked, that auth refuses (JWT_SECRET >= 32 characters, ADMIN_PASSWORD >= 8).
    expect(read(`${DIR}/secret.example.yaml`)).toMatch(/EXAMPLE ONLY, with PLACEHOLDER values/);
    expect(SERVICE_CONFIGS.auth.shape.JWT_SECRET!.safeParse((secret!.stringData as Record<string, string>).JWT_SECRET).success).toBe(false);
    expect(SERVICE_CONFIGS.auth.shape.ADMIN_PASSWORD!.safeParse((secret!.stringData as Record<string, string>).ADMIN_PASSWORD).success).toBe(false);
  });

  it("runs in a namespace that enforces the restricted Pod Security Standard", () => {
    expect(find("Namespace", "patchmon-ws")!.metadata.labels!["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });
});

describe("every pod (Deployments and StatefulSets)", () => {
  it.each(workloads.map((w) => [`${w.kind} ${w.metadata.name}`, w] as const))("%s: restricted security context, pinned image, requests and limits", (_name, workload) => {
    const pod = workload.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(container.securityContext.allowPrivilegeEscalation, container.name).toBe(false);
      expect(container.securityContext.readOnlyRootFilesystem, container.name).toBe(true);
      expect(container.securityContext.runAsNonRoot ?? pod.securityContext.runAsNonRoot, container.name).toBe(true);
      expect(container.securityContext.capabilities, container.name).toEqual({ drop: ["ALL"] });
      expect(container.securityContext.privileged ?? false, container.name).toBe(false);
      expect(isPinnedImage(container.image), container.image).toBe(true);
      for (const kind of ["requests", "limits"]) {
        expect(container.resources?.[kind]?.cpu, `${container.name} ${kind}.cpu`).toBeDefined();
        expect(container.resources?.[kind]?.memory, `${container.name} ${kind}.memory`).toBeDefined();
      }
      expect(container.readinessProbe, `${container.name} readiness`).toBeDefined();
      expect(container.livenessProbe, `${container.name} liveness`).toBeDefined();
      for (const port of container.ports ?? []) expect(port.hostPort, container.name).toBeUndefined();
    }
  });

  it("uses the same NATS and Redis images as docker-compose.yml", () => {
    expect(find("StatefulSet", "nats")!.spec.template.spec.containers[0].image).toBe(compose.services.nats!.image);
    expect(find("StatefulSet", "redis")!.spec.template.spec.containers[0].image).toBe(compose.services.redis!.image);
  });

  it("each with more than one replica has a PodDisruptionBudget selecting it", () => {
    // A single replica (Redis) gets none: a budget could only block node drains (minAvailable 1) or allow anything.
    for (const workload of workloads.filter((w) => (w.spec.replicas ?? 1) > 1)) {
      const labels = workload.spec.template.metadata.labels as Record<string, string>;
      const pdb = all("PodDisruptionBudget").find((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
      expect(pdb, `${workload.metadata.name} has no PodDisruptionBudget`).toBeDefined();
      expect(pdb!.spec.maxUnavailable ?? pdb!.spec.minAvailable).toBeDefined();
    }
  });
});

describe("the service Deployments", () => {
  it.each(SERVICE_NAMES)("%s: image, port, readiness /readyz, liveness /healthz, rolling update without loss, drain time", (name) => {
    const deployment = find("Deployment", name)!;
    expect(deployment, `no Deployment ${name}`).toBeDefined();
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(container.image).toMatch(new RegExp(`^patchmon-ws/${name}:`));
    expect(container.ports).toEqual([{ name: "http", containerPort: SERVICE_PORTS[name] }]);
    expect(container.env).toContainEqual({ name: "PORT", value: String(SERVICE_PORTS[name]) });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(pod.enableServiceLinks).toBe(false);
    // preStop sleep + SHUTDOWN_TIMEOUT_MS (10 s) must fit in the grace period.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5 + 10 + 5);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it.each(SERVICE_NAMES)("%s: a Service on its port, selecting its pods", (name) => {
    const service = find("Service", name)!;
    expect(service.spec.selector).toEqual({ "app.kubernetes.io/name": name });
    expect(service.spec.ports).toEqual([{ name: "http", port: SERVICE_PORTS[name], targetPort: "http" }]);
  });

  it("take their settings from the ConfigMap, and only auth gets the Secret", () => {
    for (const name of SERVICE_NAMES) {
      const envFrom = find("Deployment", name)!.spec.template.spec.containers[0].envFrom as { configMapRef?: { name: string }; secretRef?: { name: string } }[];
      expect(envFrom, name).toContainEqual({ configMapRef: { name: "patchmon-ws-config" } });
      const secret = envFrom.some((e) => e.secretRef?.name === "patchmon-ws-secrets");
      expect(secret, name).toBe(name === "auth");
    }
  });

  it("the ConfigMap sets only variables some service reads, and KV_REPLICAS=3 for the NATS cluster", () => {
    const data = find("ConfigMap", "patchmon-ws-config")!.data!;
    const known = new Set(Object.values(SERVICE_CONFIGS).flatMap((schema) => Object.keys(schema.shape)));
    expect(Object.keys(data).filter((k) => !known.has(k))).toEqual([]);
    expect(data.KV_REPLICAS).toBe("3");
    expect(data.NATS_URL!.split(",")).toEqual(["nats-0", "nats-1", "nats-2"].map((p) => `nats://${p}.nats-headless:4222`));
    expect(data.REDIS_URL).toBe("redis://redis:6379");
    for (const name of SERVICE_NAMES) {
      const parsed = SERVICE_CONFIGS[name].safeParse({ ...data, PORT: String(SERVICE_PORTS[name]), JWT_SECRET: "x".repeat(40) });
      expect(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
  });

  it("TRUSTED_PROXIES names the pod network, as a documented placeholder", () => {
    const value = find("ConfigMap", "patchmon-ws-config")!.data!.TRUSTED_PROXIES!;
    expect(value).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(read(`${DIR}/config.yaml`)).toMatch(/PLACEHOLDER: the pod network CIDR/);
  });

  it.each(["agent-ws", "terminal-ws"])("%s scales horizontally on CPU, slowly down (a scale-down drains sockets)", (name) => {
    const hpa = find("HorizontalPodAutoscaler", name)!;
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.metrics).toEqual([{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }]);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    const metric = name === "agent-ws" ? "agent_ws_connections" : "terminal_ws_sockets";
    expect(read(`${DIR}/services/${name}.yaml`)).toContain(`name: ${metric}`);
    expect(read(`services/${name}/src/metrics.ts`)).toContain(`name: "${metric}"`);
  });
});

describe("NATS: a three-node JetStream cluster", () => {
  const statefulSet = find("StatefulSet", "nats")!;
  const config = find("ConfigMap", "nats-config")!.data!["nats.conf"]!;

  it("runs three servers started together, each with its own volume", () => {
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.podManagementPolicy).toBe("Parallel");
    expect(statefulSet.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(statefulSet.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: "data", mountPath: "/data" });
  });

  it("names its members through a headless service that publishes not-ready addresses", () => {
    const headless = find("Service", statefulSet.spec.serviceName)!;
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(headless.spec.ports.map((p: { port: number }) => p.port).sort()).toEqual([4222, 6222, 8222]);
  });

  it("has a config with JetStream on the volume and routes to all three members", () => {
    expect(config).toMatch(/server_name: \$POD_NAME/);
    expect(config).toMatch(/jetstream \{\s*store_dir: \/data/);
    const routes = [...config.matchAll(/nats:\/\/(nats-\d)\.nats-headless:6222/g)].map((m) => m[1]);
    expect(routes).toEqual(["nats-0", "nats-1", "nats-2"]);
    expect(statefulSet.spec.template.spec.containers[0].env).toContainEqual({ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
  });

  it("is ready only with JetStream up and a meta leader, and enters lame-duck mode before stopping", () => {
    const [container] = statefulSet.spec.template.spec.containers;
    expect(container.readinessProbe.httpGet.path).toBe("/healthz?js-server-only=true");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz?js-enabled-only=true");
    expect(container.lifecycle.preStop.exec.command).toEqual(["nats-server", "--signal", "ldm=/var/run/nats/nats.pid"]);
    expect(config).toMatch(/pid_file: \/var\/run\/nats\/nats\.pid/);
  });
});

describe("Redis", () => {
  it("keeps an append-only file on a persistent volume, noeviction", () => {
    const statefulSet = find("StatefulSet", "redis")!;
    const args = statefulSet.spec.template.spec.containers[0].args.join(" ");
    expect(args).toMatch(/--appendonly yes/);
    expect(args).toMatch(/--maxmemory-policy noeviction/);
    expect(statefulSet.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
    expect(find("Service", "redis")!.spec.ports[0].port).toBe(6379);
  });
});

describe("Traefik on Kubernetes", () => {
  it("the IngressRoute file is what `npm run render-kubernetes -w @patchmon-ws/edge` writes", () => {
    expect(read(KUBERNETES_INGRESS_FILE)).toBe(renderKubernetesIngress());
  });

  it("routes exactly as the route table: same rules, priorities, services and ports, on websecure with TLS", () => {
    const ingress = find("IngressRoute", "patchmon-ws")!;
    expect(ingress.spec.entryPoints).toEqual(["websecure"]);
    expect(ingress.spec.tls).toEqual({});
    type Route = { match: string; priority: number; services: { name: string; port: number; serversTransport: string }[]; middlewares: { name: string }[] };
    const routes = ingress.spec.routes as Route[];
    expect(routes.map((r) => ({ match: r.match, priority: r.priority, service: r.services[0]!.name, port: r.services[0]!.port }))).toEqual(
      ROUTES.map((r) => ({ match: r.rule, priority: r.priority, service: r.service, port: SERVICE_PORTS[r.service] })),
    );
    for (const route of routes) {
      expect(route.services).toHaveLength(1);
      expect(find("Service", route.services[0]!.name), route.services[0]!.name).toBeDefined();
      expect(find("ServersTransport", route.services[0]!.serversTransport)).toBeDefined();
      for (const middleware of route.middlewares) expect(find("Middleware", middleware.name), middleware.name).toBeDefined();
    }
    expect(find("ServersTransport", "long-lived")!.spec.forwardingTimeouts).toEqual(serversTransportTimeouts());
  });

  describe("the Helm values (traefik/helm-values.yaml)", () => {
    const values = parse(read(`${DIR}/traefik/helm-values.yaml`)) as any;

    it("pin the same Traefik as docker-compose.yml", () => {
      expect(`traefik:${values.image.tag}`).toBe(compose.services.traefik!.image);
    });

    it("expose no dashboard or API route, and trust no client's X-Forwarded-*", () => {
      expect(values.api.dashboard).toBe(false);
      expect(values.ingressRoute.dashboard.enabled).toBe(false);
      for (const port of Object.values(values.ports) as any[]) {
        expect(port.forwardedHeaders?.insecure ?? false).toBe(false);
        expect(port.forwardedHeaders?.trustedIPs ?? []).toEqual([]);
      }
    });

    it("never cut an idle WebSocket sooner than the heartbeats allow, and redirect :80 to websecure", () => {
      const timeouts = values.ports.websecure.transport.respondingTimeouts;
      expect(timeouts.readTimeout).toBe("0s");
      expect(timeouts.writeTimeout).toBe("0s");
      expect(Number.parseInt(timeouts.idleTimeout, 10)).toBeGreaterThanOrEqual(180);
      expect(values.ports.web.redirections.entryPoint).toEqual({ to: "websecure", scheme: "https", permanent: true });
      expect(values.providers.kubernetesCRD.allowEmptyServices).toBe(true);
      expect(values.logs.access.enabled).toBe(false);
    });

    it("pass only static options Traefik knows", () => {
      const flags = (values.additionalArguments as string[]).map((arg) => {
        const [key, value] = arg.replace(/^--/, "").split("=");
        return [key!.split("."), value!] as [string[], string];
      });
      expect(flatToTraefikConfig(flags, traefikSchema("traefik-v3.json")).unknown).toEqual([]);
    });
  });
});
