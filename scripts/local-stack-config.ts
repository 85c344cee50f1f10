import { z } from "zod";
import { env, loadConfig } from "@patchmon-ws/service-kit";

/**
 * The variables `npm start` reads itself (README: "npm start (the local stack)"); the edge's EDGE_* variables are
 * read by the edge's own schema (proxy/src/config.ts), and every other variable reaches every service unchanged.
 */
export const localStackConfigSchema = z.object({
  /** Data, secrets, the edge's certificate and logs; unset: `.state/` in the repository. */
  STATE_DIR: z.string().optional(),
  /** Running servers to use instead of starting nats-server and redis-server. */
  NATS_URL: z.string().optional(),
  REDIS_URL: z.string().optional(),
  /** Replicas per service, e.g. `agent-ws=2,terminal-ws=2` (checked against services/ by parseScale). */
  STACK_SCALE: z.string().optional(),
  /** The first admin, fixed on the first start (kept in <STATE_DIR>/secrets.json); unset password: generated. */
  ADMIN_USERNAME: z.string().default("admin"),
  ADMIN_PASSWORD: z.string().optional(),
  /** Every service's log level. */
  LOG_LEVEL: env.logLevel(),
});

export type LocalStackConfig = z.infer<typeof localStackConfigSchema>;

export function loadLocalStackConfig(source: NodeJS.ProcessEnv = process.env): LocalStackConfig {
  return loadConfig(localStackConfigSchema, source);
}
