/**
 * docker-compose.yml and its overrides (docker-compose.cluster.yml, docker-compose.acme.yml), read as compose reads
 * them, against the compose specification's JSON Schema, the route table (proxy/src/routes.ts), Traefik v3's static
 * configuration schema, the services' configuration schemas and the operations contract ("Operations" in docs/architecture.md): healthchecks,
 * non-root, no published port but Traefik's, no trusted client X-Forwarded-*, pinned images, scale without edits.
 */
import { describe, expect, it } from "vitest";
import { HTTP_KEEP_ALIVE_TIMEOUT_MS } from "@patchmon-ws/service-kit";
import { ROUTES, SERVICE_NAMES, SERVICE_PORTS, type ServiceName } from "../../proxy/src/routes.js";
import { COMPOSE_FILE, composeLabels, renderComposeLabels, serversTransportTimeouts } from "../../proxy/src/deploy-config.js";
import {
  COMMON_VARIABLES,
  SERVICE_CONFIGS,
  composeSchemaValidator,
  effective,
  environmentOf,
  interpolate,
  interpolateAll,
  isPinnedImage,
  mergeCompose,
  networksOf,
  parseDockerfile,
  read,
  readCompose,
  requiredVariables,
  traefikDynamicFromLabels,
  traefikStaticFromEnv,
  traefikValidator,
  type ComposeFile,
  type ComposeService,
} from "./support.js";

/** What a test run of compose sees in .env: the required variables set, everything else at its default. */
const ENV = { JWT_SECRET: "x".repeat(40), ACME_EMAIL: "ops@example.com", ACME_DOMAIN: "patchmon.example.com" };

const raw = readCompose(COMPOSE_FILE);
const base = interpolateAll(raw, ENV);
const cluster = interpolateAll(mergeCompose(raw, readCompose("docker-compose.cluster.yml")), ENV);
const acme = interpolateAll(mergeCompose(raw, readCompose("docker-compose.acme.yml")), ENV);
const dockerfile = parseDockerfile(read("Dockerfile"));

const variants: [string, ComposeFile][] = [
  ["docker-compose.yml", base],
  ["+ docker-compose.cluster.yml", cluster],
  ["+ docker-compose.acme.yml", acme],
];

/** Infrastructure images we do not build; every other service is one of ours. */
const INFRASTRUCTURE = ["traefik", "nats", "nats-2", "nats-3", "redis"];
/**
 * Containers that run as root, and why: Traefik reads the Docker socket (root-owned; it keeps only
 * NET_BIND_SERVICE), nats-server writes its JetStream volume, which Docker creates root-owned (no capabilities).
 * Everything else runs as a numeric non-root user.
 */
const ROOT_ALLOWED: Record<string, string> = {
  traefik: "reads /var/run/docker.sock; cap_drop ALL but NET_BIND_SERVICE, read-only root",
  nats: "writes its JetStream volume (created root-owned); cap_drop ALL, read-only root",
  "nats-2": "as nats",
  "nats-3": "as nats",
};

const traefik = base.services.traefik!;
const traefikEnv = environmentOf(traefik);

describe("docker-compose.yml is a valid compose file", () => {
  const validate = composeSchemaValidator();

  it.each(variants)("%s validates against the compose specification's JSON Schema", (_name, file) => {
    const ok = validate(file);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it("the schema check can fail: an unknown key and a malformed duration are reported", () => {
    expect(validate({ services: { a: { image: "x", restrat: "always" } } })).toBe(false);
    expect(validate({ services: { a: { image: "x", healthcheck: { interval: "ten seconds" } } } })).toBe(false);
  });

  it("needs JWT_SECRET: compose refuses to start without it, naming it", () => {
    expect(() => interpolateAll(raw, {})).toThrow(/JWT_SECRET/);
    expect(() => interpolateAll(mergeCompose(raw, readCompose("docker-compose.acme.yml")), { JWT_SECRET: ENV.JWT_SECRET })).toThrow(/ACME_EMAIL/);
  });

  it("interpolates as compose does", () => {
    expect(interpolate("${A:-x}-${B-y}-$$C-${D}", { B: "" })).toBe("x--$C-");
    expect(() => interpolate("${A:?say A}", {})).toThrow(/say A/);
  });
});

describe("routing labels equal the route table (proxy/src/routes.ts)", () => {
  it("are what `npm run render-compose -w @patchmon-ws/edge` writes", () => {
    expect(read(COMPOSE_FILE)).toBe(renderComposeLabels(read(COMPOSE_FILE)));
  });

  it("have one router per route, with the same rule, priority and service, on websecure only", () => {
    const routers: Record<string, { rule?: string; priority?: number; service?: string; entryPoints?: string[]; container: string }> = {};
    for (const [name, service] of Object.entries(base.services)) {
      for (const [label, value] of Object.entries(service.labels ?? {})) {
        const match = /^traefik\.http\.routers\.([^.]+)\.(rule|priority|service|entrypoints)$/.exec(label);
        if (!match) continue;
        const router = (routers[match[1]!] ??= { container: name });
        expect(router.container, `router ${match[1]} is defined on two services`).toBe(name);
        if (match[2] === "rule") router.rule = value;
        if (match[2] === "priority") router.priority = Number(value);
        if (match[2] === "service") router.service = value;
        if (match[2] === "entrypoints") router.entryPoints = value.split(",");
      }
    }
    expect(Object.keys(routers).sort()).toEqual(ROUTES.map((r) => r.name).sort());
    for (const route of ROUTES) {
      expect(routers[route.name]).toEqual({ rule: route.rule, priority: route.priority, service: route.service, entryPoints: ["websecure"], container: route.service });
    }
  });

  it("point each service's load balancer at its port, health-checked on /healthz, retrying on another replica", () => {
    for (const service of SERVICE_NAMES) {
      const labels = base.services[service]!.labels!;
      expect(labels["traefik.enable"]).toBe("true");
      expect(labels[`traefik.http.services.${service}.loadbalancer.server.port`]).toBe(String(SERVICE_PORTS[service]));
      expect(labels[`traefik.http.services.${service}.loadbalancer.healthcheck.path`]).toBe("/healthz");
      expect(Number(labels["traefik.http.middlewares.retry-connect.retry.attempts"])).toBeGreaterThan(1);
      expect(environmentOf(base.services[service]!).PORT).toBe(String(SERVICE_PORTS[service]));
    }
  });

  it("validate, as Traefik dynamic configuration, against the file-provider schema", () => {
    const validate = traefikValidator("traefik-v3-file-provider.json");
    for (const service of SERVICE_NAMES) {
      const { config, unknown } = traefikDynamicFromLabels(base.services[service]!.labels!, service);
      expect(unknown, `${service}: labels Traefik does not know`).toEqual([]);
      expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    }
    // ... and a misspelt label is caught.
    expect(traefikDynamicFromLabels({ "traefik.http.routers.x.rulle": "Path(`/`)" }, "x").unknown).toEqual(["http.routers.x.rulle"]);
  });

  it("set no router TLS of their own, so the entry point's TLS (and the ACME resolver of the override) applies", () => {
    for (const service of Object.values(base.services)) {
      expect(Object.keys(service.labels ?? {}).filter((l) => /\.routers\.[^.]+\.tls/.test(l))).toEqual([]);
    }
  });

  it("escape compose's $ in generated values", () => {
    const labels = composeLabels("auth", [{ name: "auth", rule: "PathRegexp(`^/a$`)", priority: 5, service: "auth", description: "" }]);
    expect(labels["traefik.http.routers.auth.rule"]).toBe("PathRegexp(`^/a$$`)");
    expect(interpolate(labels["traefik.http.routers.auth.rule"]!, {})).toBe("PathRegexp(`^/a$`)");
  });

  it("only routed services opt in to Traefik (exposedByDefault=false)", () => {
    const enabled = Object.entries(base.services).filter(([, s]) => s.labels?.["traefik.enable"] === "true").map(([n]) => n);
    expect(enabled.sort()).toEqual([...SERVICE_NAMES].sort());
    expect(traefikEnv.TRAEFIK_PROVIDERS_DOCKER_EXPOSEDBYDEFAULT).toBe("false");
  });
});

describe("Traefik", () => {
  const { config, unknown } = traefikStaticFromEnv(traefikEnv);
  const entryPoints = config.entryPoints as Record<string, any>;

  it("is Traefik v3.6.15 (never a 3.0 release candidate: traefik#10598 broke WebSockets)", () => {
    expect(traefik.image).toBe("traefik:v3.6.15");
  });

  it("has a static configuration (TRAEFIK_* variables) that is valid against the Traefik v3 schema, with no unknown key", () => {
    expect(unknown).toEqual([]);
    const validate = traefikValidator("traefik-v3.json");
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(traefikStaticFromEnv({ TRAEFIK_ENTRYPOINTS_WEB_ADRESS: ":80" }).unknown).toEqual(["ENTRYPOINTS.WEB.ADRESS"]);
    for (const [name, file] of variants) {
      const variant = traefikStaticFromEnv(environmentOf(file.services.traefik!));
      expect(variant.unknown, name).toEqual([]);
      expect(validate(variant.config), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("is configured by environment only (no arguments, no mounted traefik.yml), so overrides can add variables", () => {
    expect(traefik.command).toBeUndefined();
    expect(traefik.entrypoint).toBeUndefined();
    expect((traefik.volumes ?? []).filter((v) => !v.startsWith("/var/run/docker.sock:"))).toEqual([]);
  });

  it("redirects :80 to websecure and terminates TLS on :443", () => {
    expect(entryPoints.web).toEqual({ address: ":80", http: { redirections: { entryPoint: { to: "websecure", scheme: "https", permanent: true } } } });
    expect(entryPoints.websecure.address).toBe(":443");
    expect(entryPoints.websecure.http.tls).toEqual({});
  });

  it("exposes no API or dashboard, and no router reaches api@internal", () => {
    expect(config.api).toBeUndefined();
    expect(Object.keys(traefikEnv).filter((k) => k.startsWith("TRAEFIK_API"))).toEqual([]);
    for (const [, file] of variants) {
      for (const service of Object.values(file.services)) {
        expect(Object.values(service.labels ?? {}).join(" ")).not.toMatch(/api@internal|dashboard@internal/);
      }
    }
  });

  it("trusts no client's X-Forwarded-* (no forwardedHeaders.insecure, no trustedIPs) on any entry point", () => {
    for (const [, file] of variants) {
      const env = environmentOf(file.services.traefik!);
      expect(Object.keys(env).filter((k) => /FORWARDEDHEADERS|PROXYPROTOCOL/.test(k))).toEqual([]);
    }
    for (const entryPoint of Object.values(entryPoints)) expect(entryPoint.forwardedHeaders).toBeUndefined();
  });

  it("never cuts an idle WebSocket sooner than the heartbeats allow", () => {
    const timeouts = entryPoints.websecure.transport.respondingTimeouts;
    expect(timeouts.readTimeout).toBe("0s");
    expect(timeouts.writeTimeout).toBe("0s");
    // Agents ping every 30 s and give up after 90 s; services ping every <= 30 s. Traefik's old default (180 s) is the floor.
    expect(Number.parseInt(timeouts.idleTimeout, 10)).toBeGreaterThanOrEqual(180);
    const transport = (config.serversTransport as any).forwardingTimeouts;
    expect(transport).toEqual(serversTransportTimeouts());
    expect(transport.responseHeaderTimeout).toBe("0s");
    // Traefik, not a service, closes an idle upstream connection: a service closing first races Traefik's reuse (502).
    expect(Number.parseInt(transport.idleConnTimeout, 10) * 1000).toBeLessThan(HTTP_KEEP_ALIVE_TIMEOUT_MS);
  });

  it("publishes only 80 and 443, checks its health with ping, and keeps the internal entry point unpublished", () => {
    expect(traefik.ports).toEqual(["80:80", "443:443"]);
    expect(traefik.healthcheck?.test).toEqual(["CMD", "traefik", "healthcheck", "--ping"]);
    // `traefik healthcheck --ping` probes the default internal entry point "traefik" on :8080.
    expect(config.ping).toEqual({ entryPoint: "traefik" });
    expect(entryPoints.traefik.address).toBe(":8080");
  });

  it("reads routers from Docker labels on the edge network, and keeps an unhealthy service's routes (503, no fall-through)", () => {
    const docker = (config.providers as any).docker;
    expect(docker).toEqual({ exposedByDefault: false, network: base.networks!.edge!.name, allowEmptyServices: true });
    expect(traefik.volumes).toEqual(["/var/run/docker.sock:/var/run/docker.sock:ro"]);
    expect(networksOf(traefik)).toEqual(["edge"]);
  });

  it("keeps its access log off: request paths carry one-time tickets", () => {
    expect(config.accessLog).toBeUndefined();
  });

  it("gets ACME only from docker-compose.acme.yml, as the websecure entry point's default resolver", () => {
    expect(Object.keys(traefikEnv).filter((k) => /CERTRESOLVER|CERTIFICATESRESOLVERS/.test(k))).toEqual([]);
    const acmeConfig = traefikStaticFromEnv(environmentOf(acme.services.traefik!)).config as any;
    expect(acmeConfig.entryPoints.websecure.http.tls).toEqual({ certResolver: "letsencrypt", domains: [{ main: ENV.ACME_DOMAIN }] });
    expect(acmeConfig.certificatesResolvers.letsencrypt.acme).toMatchObject({ email: ENV.ACME_EMAIL, storage: "/letsencrypt/acme.json", tlsChallenge: {} });
    expect(acme.services.traefik!.volumes).toContain("letsencrypt:/letsencrypt");
  });
});

describe("every service", () => {
  it.each(variants)("%s: has a healthcheck, a restart policy and rotated json-file logs", (_name, file) => {
    for (const [name, service] of Object.entries(file.services)) {
      expect(service.healthcheck?.test, `${name} has no healthcheck`).toBeDefined();
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(service.restart, name).toBe("unless-stopped");
      expect(service.logging, name).toEqual({ driver: "json-file", options: { "max-size": "10m", "max-file": "5" } });
    }
  });

  it("checks health with the right probe: node fetch of /healthz in ours, NATS JetStream health, redis-cli ping", () => {
    for (const name of SERVICE_NAMES) expect(base.services[name]!.healthcheck!.test, name).toEqual(["CMD", "node", "healthcheck.mjs"]);
    expect(base.services.nats!.healthcheck!.test).toEqual(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8222/healthz?js-enabled-only=true"]);
    expect(base.services.redis!.healthcheck!.test).toEqual(["CMD-SHELL", "redis-cli ping | grep -q PONG"]);
    expect(read("deploy/docker/healthcheck.mjs")).toMatch(/fetch\(`http:\/\/127\.0\.0\.1:\$\{port\}\$\{path\}`/);
  });

  it.each(variants)("%s: publishes no host port, except Traefik's 80 and 443", (_name, file) => {
    for (const [name, service] of Object.entries(file.services)) {
      if (name === "traefik") continue;
      expect(service.ports ?? [], name).toEqual([]);
      expect(service.network_mode, name).toBeUndefined();
    }
  });

  it.each(variants)("%s: runs as a non-root user (image USER or compose user), bar the documented exceptions", (_name, file) => {
    for (const [name, service] of Object.entries(file.services)) {
      if (name in ROOT_ALLOWED) {
        expect(service.cap_drop, name).toEqual(["ALL"]);
        expect(service.read_only, name).toBe(true);
        continue;
      }
      const user = service.user ?? (service.build?.target ? effective(dockerfile.stages, service.build.target, "USER")?.args : undefined);
      expect(user, `${name} runs as root`).toBeDefined();
      expect(user!.split(":")[0], name).toMatch(/^[1-9]\d*$/);
      expect(service.cap_drop, name).toEqual(["ALL"]);
      expect(service.security_opt, name).toContain("no-new-privileges:true");
      expect(service.read_only, name).toBe(true);
    }
  });

  it.each(variants)("%s: uses pinned images only (no latest, no missing tag, no floating major or minor)", (_name, file) => {
    for (const [name, service] of Object.entries(file.services)) {
      expect(service.image, name).toBeDefined();
      expect(isPinnedImage(service.image!), `${name}: ${service.image}`).toBe(true);
    }
    expect(file.services.nats!.image).toMatch(/^nats:2\.10\.\d+-alpine$/);
    expect(file.services.redis!.image).toMatch(/^redis:7\.2\.\d+-alpine$/);
  });

  it("pinned-image rule: examples", () => {
    for (const good of ["traefik:v3.6.15", "node:20.20.2-bookworm-slim", "nats:2.10.29-alpine", "reg.example:5000/x/y:1.2.3", `r@sha256:${"a".repeat(64)}`]) expect(isPinnedImage(good), good).toBe(true);
    for (const bad of ["traefik", "traefik:latest", "node:20", "redis:7.2-alpine", "nats:2-alpine", "reg.example:5000/x"]) expect(isPinnedImage(bad), bad).toBe(false);
  });

  it("of ours builds its own Dockerfile target and is tagged with the project's version", () => {
    const version = (JSON.parse(read("package.json")) as { version: string }).version;
    for (const name of SERVICE_NAMES) {
      const service = base.services[name]!;
      expect(service.build).toEqual({ context: ".", target: name });
      expect(dockerfile.stages.some((s) => s.name === name), `Dockerfile has no target ${name}`).toBe(true);
      expect(service.image).toBe(`patchmon-ws/${name}:${version}`);
    }
  });

  it("can be scaled with no other change: no container_name, no fixed address, no per-replica setting", () => {
    for (const [name, service] of Object.entries(raw.services)) {
      expect(service.container_name, name).toBeUndefined();
      expect(service.hostname, name).toBeUndefined();
      expect(JSON.stringify(service.networks ?? [])).not.toMatch(/ipv4_address|ipv6_address/);
      expect(Object.keys(environmentOf(service)), name).not.toContain("REPLICA_ID");
    }
    // The replica id defaults per process (hostname-pid-random), so every replica of a scaled service differs.
    for (const name of ["agent-ws", "terminal-ws"] as const) {
      const field = SERVICE_CONFIGS[name].shape.REPLICA_ID as { parse(v: unknown): string };
      expect(field.parse(undefined)).not.toBe(field.parse(undefined));
    }
  });

  it("waits for healthy NATS (and Redis where it needs it) before starting", () => {
    for (const name of ["auth", "agent-ws", "terminal-ws", "bullboard"] as const) {
      expect(base.services[name]!.depends_on?.nats, name).toEqual({ condition: "service_healthy" });
    }
    for (const name of ["agent-ws", "bullboard"] as const) expect(base.services[name]!.depends_on?.redis, name).toEqual({ condition: "service_healthy" });
    for (const [name, service] of Object.entries(base.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(condition, `${name} → ${dependency}`).toBe("service_healthy");
        expect(base.services[dependency]?.healthcheck, `${dependency} has no healthcheck`).toBeDefined();
      }
    }
  });
});

describe("service environments", () => {
  const envExample = read(".env.example");
  const exampleSet = new Set([...envExample.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
  const exampleCommented = new Set([...envExample.matchAll(/^#\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));

  it("set only variables the service reads (a typo would be silently ignored)", () => {
    for (const name of SERVICE_NAMES) {
      const known = Object.keys(SERVICE_CONFIGS[name].shape);
      for (const [, file] of variants) {
        expect(Object.keys(environmentOf(file.services[name]!)).filter((v) => !known.includes(v)), name).toEqual([]);
      }
    }
  });

  it("give every variable a service REQUIRES (no default in its zod schema), from .env, where .env.example lists it", () => {
    for (const name of SERVICE_NAMES) {
      for (const variable of requiredVariables(SERVICE_CONFIGS[name])) {
        expect(exampleSet.has(variable), `.env.example lacks ${variable} (required by ${name})`).toBe(true);
        expect(String(raw.services[name]!.environment?.[variable]), `${name} must take ${variable} from .env, and fail without it`).toMatch(
          new RegExp(`^\\$\\{${variable}:\\?`),
        );
      }
    }
    expect(requiredVariables(SERVICE_CONFIGS.auth)).toEqual(["JWT_SECRET"]);
  });

  it(".env.example lists the main optional variables, commented, and every variable the compose files read", () => {
    for (const variable of ["ADMIN_USERNAME", "ADMIN_PASSWORD", "PUBLIC_URL", "LOG_LEVEL", "EDGE_SUBNET", "ACME_EMAIL", "ACME_DOMAIN"]) {
      expect(exampleCommented.has(variable), variable).toBe(true);
    }
    const composeText = ["docker-compose.yml", "docker-compose.cluster.yml", "docker-compose.acme.yml"].map(read).join("\n");
    const used = new Set([...composeText.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect([...used].filter((v) => !exampleSet.has(v) && !exampleCommented.has(v))).toEqual([]);
  });

  it("trust X-Forwarded-* from the edge network only, which has a fixed subnet", () => {
    const subnet = base.networks!.edge!.ipam!.config[0]!.subnet;
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    for (const name of SERVICE_NAMES) {
      expect(environmentOf(base.services[name]!).TRUSTED_PROXIES, name).toBe(subnet);
      expect(networksOf(base.services[name]!), name).toContain("edge");
    }
  });

  it("keep NATS and Redis on an internal network Traefik is not on", () => {
    expect(base.networks!.backend).toEqual({ internal: true });
    for (const name of ["nats", "redis"]) expect(networksOf(base.services[name]!), name).toEqual(["backend"]);
    expect(networksOf(base.services.web!)).toEqual(["edge"]);
  });

  it("connect every NATS client to NATS and the Redis users to Redis", () => {
    for (const name of SERVICE_NAMES) {
      const env = environmentOf(base.services[name]!);
      if (name === "web") {
        expect(env.NATS_URL).toBeUndefined();
        continue;
      }
      expect(env.NATS_URL, name).toBe("nats://nats:4222");
      expect(COMMON_VARIABLES).toContain("NATS_URL");
      if ("REDIS_URL" in SERVICE_CONFIGS[name].shape) expect(env.REDIS_URL, name).toBe("redis://redis:6379");
      if ("KV_REPLICAS" in SERVICE_CONFIGS[name].shape) expect(env.KV_REPLICAS, name).toBe("1");
    }
  });
});

describe("NATS and Redis", () => {
  it("run NATS with JetStream on a volume", () => {
    const nats = base.services.nats!;
    expect(nats.command).toEqual(expect.arrayContaining(["--jetstream", "--store_dir=/data"]));
    expect(nats.volumes).toEqual(["nats-data:/data"]);
  });

  it("run Redis with an append-only file on a volume, noeviction (BullMQ), as the image's redis user", () => {
    const redis = base.services.redis!;
    expect(redis.command!.join(" ")).toMatch(/--appendonly yes/);
    expect(redis.command!.join(" ")).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.volumes).toEqual(["redis-data:/data"]);
    expect(redis.user).toBe("999:1000");
  });
});

describe("docker-compose.cluster.yml", () => {
  const nodes = ["nats", "nats-2", "nats-3"];
  const urls = nodes.map((n) => `nats://${n}:4222`).join(",");

  it("runs three NATS servers in one JetStream cluster, each on its own volume, routed to each other", () => {
    const names = new Set<string>();
    for (const node of nodes) {
      const command = cluster.services[node]!.command!;
      expect(command, node).toEqual(expect.arrayContaining(["--jetstream", "--store_dir=/data", "--cluster_name=patchmon-ws", "--cluster=nats://0.0.0.0:6222"]));
      expect(command, node).toContain(`--routes=${nodes.map((n) => `nats://${n}:6222`).join(",")}`);
      names.add(command.find((a) => a.startsWith("--server_name="))!);
      expect(cluster.services[node]!.volumes!.length, node).toBe(1);
      expect(cluster.services[node]!.healthcheck!.test.at(-1), node).toBe("http://127.0.0.1:8222/healthz?js-server-only=true");
      expect(networksOf(cluster.services[node]!), node).toEqual(["backend"]);
    }
    expect(names.size).toBe(3);
    expect(new Set(nodes.map((n) => cluster.services[n]!.volumes![0]!.split(":")[0])).size).toBe(3);
  });

  it("gives every NATS client all three servers and replicates every KV bucket and stream three times", () => {
    for (const name of SERVICE_NAMES) {
      const env = environmentOf(cluster.services[name]!);
      if (name === "web") continue;
      expect(env.NATS_URL, name).toBe(urls);
      if ("KV_REPLICAS" in SERVICE_CONFIGS[name].shape) expect(env.KV_REPLICAS, name).toBe("3");
      for (const node of nodes) expect(cluster.services[name]!.depends_on?.[node], `${name} → ${node}`).toEqual({ condition: "service_healthy" });
    }
  });
});

describe("the route table itself", () => {
  it("sends every service somewhere and names each compose service after it", () => {
    const routed = new Set<ServiceName>(ROUTES.map((r) => r.service));
    expect([...routed].sort()).toEqual([...SERVICE_NAMES].sort());
    for (const name of SERVICE_NAMES) expect(Object.keys(raw.services)).toContain(name);
  });

  it("leaves infrastructure out of the route table", () => {
    for (const name of INFRASTRUCTURE) expect(base.services[name]?.labels?.["traefik.enable"]).toBeUndefined();
  });
});

export type { ComposeService };
