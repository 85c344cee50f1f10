import { fileURLToPath } from "node:url";
import { z } from "zod";
import { commonConfigShape, env, loadConfig } from "@patchmon-ws/service-kit";

/** The web UI's build in this repository (web/dist); containers set WEB_ROOT. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../../web/dist", import.meta.url));

/** Every variable the web service reads, with its default (README: "services/web"). */
export const webConfigSchema = z.object({
  LOG_LEVEL: commonConfigShape.LOG_LEVEL,
  HOST: commonConfigShape.HOST,
  TRUSTED_PROXIES: commonConfigShape.TRUSTED_PROXIES,
  SHUTDOWN_TIMEOUT_MS: commonConfigShape.SHUTDOWN_TIMEOUT_MS,
  PORT: env.port(8080),
  /** The built UI (index.html and assets/). */
  WEB_ROOT: z.string().min(1).default(DEFAULT_WEB_ROOT),
  /** Send Strict-Transport-Security when the client came over https (through a trusted proxy). */
  HSTS: env.boolean(true),
});

export type WebConfig = z.infer<typeof webConfigSchema>;

export function loadWebConfig(source: NodeJS.ProcessEnv = process.env): WebConfig {
  return loadConfig(webConfigSchema, source);
}
