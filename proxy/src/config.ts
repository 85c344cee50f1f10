import { z } from "zod";
import { env, loadConfig, ProxyTrust } from "@patchmon-ws/service-kit";
import { isServiceName, SERVICE_NAMES, type ServiceName } from "./routes.js";
import { parseUpstreamUrl } from "./upstream-pool.js";

/**
 * Parses EDGE_UPSTREAMS: `service=url[,url...]` entries separated by `;`, e.g.
 * `auth=http://127.0.0.1:4001;agent-ws=http://127.0.0.1:4101,http://127.0.0.1:4102`.
 * Service names must be those of the route table, so a typo fails at start-up instead of routing nowhere.
 */
export function parseUpstreams(text: string): Partial<Record<ServiceName, string[]>> {
  const result: Partial<Record<ServiceName, string[]>> = {};
  for (const entry of text.split(";").map((e) => e.trim()).filter(Boolean)) {
    const equals = entry.indexOf("=");
    if (equals < 0) throw new Error(`${JSON.stringify(entry)} is not service=url[,url...]`);
    const service = entry.slice(0, equals).trim();
    if (!isServiceName(service)) throw new Error(`unknown service ${JSON.stringify(service)} (known: ${SERVICE_NAMES.join(", ")})`);
    if (result[service]) throw new Error(`service ${service} is listed twice`);
    const urls = entry
      .slice(equals + 1)
      .split(",")
      .map((u) => u.trim())
      .filter(Boolean);
    if (urls.length === 0) throw new Error(`service ${service} has no URL`);
    result[service] = urls.map((u) => parseUpstreamUrl(u).origin);
  }
  return result;
}

/**
 * Every variable the edge reads (proxy/src/main.ts), with its default. Documented once, in the README's table
 * "proxy/ (the local TLS edge; Traefik in production)"; a test keeps the two in step.
 */
export const edgeConfigSchema = z
  .object({
    LOG_LEVEL: env.logLevel(),
    EDGE_HOST: z.string().default("127.0.0.1"),
    EDGE_PORT: env.port(8443),
    EDGE_HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    EDGE_TLS_CERT: z.string().optional(),
    EDGE_TLS_KEY: z.string().optional(),
    EDGE_STATE_DIR: z.string().default(".state/edge"),
    EDGE_UPSTREAMS: z
      .string()
      .default("")
      .transform((text, ctx) => {
        try {
          return parseUpstreams(text);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      }),
    EDGE_TRUSTED_IPS: env.list("").superRefine((list, ctx) => {
      try {
        new ProxyTrust(list);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message.replace(/^TRUSTED_PROXIES: /, "") });
      }
    }),
    EDGE_HEALTH_CHECK_INTERVAL_MS: env.positiveInt(2000),
    SHUTDOWN_TIMEOUT_MS: env.positiveInt(10_000),
  })
  .superRefine(
    (config, ctx) => {
      if (Boolean(config.EDGE_TLS_CERT) !== Boolean(config.EDGE_TLS_KEY)) {
        const missing = config.EDGE_TLS_CERT ? "EDGE_TLS_KEY" : "EDGE_TLS_CERT";
        ctx.addIssue({ code: "custom", path: [missing], message: "EDGE_TLS_CERT and EDGE_TLS_KEY must be set together" });
      }
    },
    // Also when other variables are invalid, so one start-up names every problem.
    { when: (payload) => typeof payload.value === "object" && payload.value !== null },
  );

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

export function loadEdgeConfig(source: NodeJS.ProcessEnv = process.env): EdgeConfig {
  return loadConfig(edgeConfigSchema, source);
}
