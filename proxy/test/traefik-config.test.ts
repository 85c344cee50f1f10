import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { ROUTES, SERVICE_NAMES, SERVICE_PORTS } from "../src/routes.js";
import { buildDynamicConfig, renderDynamicYaml, TRAEFIK_RETRY_MIDDLEWARE, TRAEFIK_SERVERS_TRANSPORT } from "../src/traefik-config.js";
import { Router } from "../src/router.js";

const traefikDir = fileURLToPath(new URL("../traefik/", import.meta.url));
const read = (name: string) => readFileSync(traefikDir + name, "utf8");

function validator(schemaFile: string): ValidateFunction {
  // SchemaStore schemas use keywords ajv's strict mode flags; they are draft-07, ajv's default draft.
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile(JSON.parse(read(`schemas/${schemaFile}`)) as object);
}

function expectValid(validate: ValidateFunction, document: unknown): void {
  const ok = validate(document);
  expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
  expect(ok).toBe(true);
}

const staticConfig = parse(read("traefik.yml")) as Record<string, any>;
const dynamicConfig = parse(read("dynamic.yml")) as { http: { routers: Record<string, any>; services: Record<string, any>; middlewares: Record<string, any> } };

describe("traefik.yml (static configuration)", () => {
  const validate = validator("traefik-v3.json");

  it("is valid against the Traefik v3 static schema", () => {
    expectValid(validate, staticConfig);
  });

  it("uses only top-level keys the schema knows (the schema itself allows unknown ones there)", () => {
    const schema = JSON.parse(read("schemas/traefik-v3.json")) as { properties: Record<string, unknown> };
    expect(Object.keys(staticConfig).filter((key) => !(key in schema.properties))).toEqual([]);
  });

  it("the schema check can fail: a misspelt nested key is reported", () => {
    expect(validate({ entryPoints: { web: { adress: ":80" } } })).toBe(false);
    expect(validate({ ...staticConfig, accessLog: { format: "json", feilds: {} } })).toBe(false);
  });

  it("redirects web to websecure permanently and terminates TLS on websecure", () => {
    expect(staticConfig.entryPoints.web.http.redirections.entryPoint).toEqual({ to: "websecure", scheme: "https", permanent: true });
    expect(staticConfig.entryPoints.websecure.address).toBe(":443");
    expect(staticConfig.entryPoints.websecure.http.tls).toEqual({});
  });

  it("trusts nobody's X-Forwarded-* by default and never cuts long-lived WebSockets", () => {
    expect(staticConfig.entryPoints.websecure.forwardedHeaders.trustedIPs).toEqual([]);
    expect(staticConfig.entryPoints.websecure.forwardedHeaders.insecure).toBeUndefined();
    const timeouts = staticConfig.entryPoints.websecure.transport.respondingTimeouts;
    expect(timeouts.readTimeout).toBe("0s");
    expect(timeouts.writeTimeout).toBe("0s");
    expect(Number.parseInt(timeouts.idleTimeout, 10)).toBeGreaterThanOrEqual(180);
  });

  it("rejects every ambiguous encoded character, as the local edge does", () => {
    const encoded = staticConfig.entryPoints.websecure.http.encodedCharacters as Record<string, boolean>;
    expect(Object.keys(encoded)).toHaveLength(7);
    expect(Object.values(encoded).every((allowed) => allowed === false)).toBe(true);
  });

  it("reads the file provider, keeps Docker off, and logs JSON without request paths", () => {
    expect(staticConfig.providers.file.filename).toBe("/etc/traefik/dynamic.yml");
    expect(staticConfig.providers.docker).toBeUndefined();
    expect(staticConfig.ping.entryPoint).toBe("internal");
    expect(staticConfig.accessLog.format).toBe("json");
    expect(staticConfig.accessLog.fields.names.RequestPath).toBe("drop");
    expect(staticConfig.accessLog.fields.headers.defaultMode).toBe("drop");
  });
});

describe("dynamic.yml (file provider)", () => {
  const validate = validator("traefik-v3-file-provider.json");

  it("is valid against the Traefik v3 file-provider schema", () => {
    expectValid(validate, dynamicConfig);
  });

  it("the schema check can fail: a router without a service is reported", () => {
    expect(validate({ http: { routers: { x: { rule: "Path(`/`)" } } } })).toBe(false);
  });

  it("has exactly the route table's routers: same rule, priority and service", () => {
    const routers = Object.fromEntries(
      Object.entries(dynamicConfig.http.routers).map(([name, r]) => [name, { rule: r.rule, priority: r.priority, service: r.service }]),
    );
    expect(routers).toEqual(Object.fromEntries(ROUTES.map((r) => [r.name, { rule: r.rule, priority: r.priority, service: r.service }])));
  });

  it("routes identically once parsed back: every committed rule compiles in the edge's matcher", () => {
    const fromFile = new Router(
      Object.entries(dynamicConfig.http.routers).map(([name, r]) => ({ name, rule: r.rule, priority: r.priority, service: r.service, description: name })),
    );
    expect(fromFile.routes.map((r) => r.name)).toEqual(new Router(ROUTES).routes.map((r) => r.name));
  });

  it("serves every router on websecure only, with TLS, retrying failed connections on another replica", () => {
    expect(dynamicConfig.http.middlewares[TRAEFIK_RETRY_MIDDLEWARE].retry.attempts).toBeGreaterThan(1);
    for (const router of Object.values(dynamicConfig.http.routers)) {
      expect(router.entryPoints).toEqual(["websecure"]);
      expect(router.tls).toEqual({});
      expect(router.middlewares).toEqual([TRAEFIK_RETRY_MIDDLEWARE]);
    }
  });

  it("has one load balancer per service, health-checked on /healthz, over the long-lived transport", () => {
    expect(Object.keys(dynamicConfig.http.services).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const service of SERVICE_NAMES) {
      const lb = dynamicConfig.http.services[service].loadBalancer;
      expect(lb.servers).toEqual([{ url: `http://${service}:${SERVICE_PORTS[service]}` }]);
      expect(lb.healthCheck.path).toBe("/healthz");
      expect(lb.serversTransport).toBe(TRAEFIK_SERVERS_TRANSPORT);
    }
  });

  it("is exactly what render-traefik.ts writes (run `npm run render-traefik -w @patchmon-ws/edge` after editing routes.ts)", () => {
    expect(read("dynamic.yml")).toBe(renderDynamicYaml());
    expect(parse(renderDynamicYaml())).toEqual(buildDynamicConfig());
  });
});
