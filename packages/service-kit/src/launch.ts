import { AuthClient } from "./auth-client.js";
import { createLogger, type Logger } from "./logger.js";
import { connectNats, natsConnected, waitForJetStream, type NatsConnection } from "./nats.js";
import { PrincipalVerifier, type PrincipalVerifierOptions } from "./principal-verifier.js";
import { RevocationHub } from "./revocations.js";
import { runMain } from "./run-main.js";
import { ServiceRuntime } from "./service-runtime.js";

/** The variables every service reads (commonConfigShape) plus its port. */
export interface CommonConfig {
  LOG_LEVEL: string;
  HOST: string;
  PORT: number;
  NATS_URL: string;
  TRUSTED_PROXIES: readonly string[];
  SHUTDOWN_TIMEOUT_MS: number;
  /** Timeout of calls to the auth service, for services that make them (ServiceContext.auth). */
  AUTH_TIMEOUT_MS?: number;
}

/** The auth client's timeout when a service's config has no AUTH_TIMEOUT_MS. */
export const DEFAULT_AUTH_TIMEOUT_MS = 2000;

/** What a service's setup gets: everything is connected, nothing listens yet. */
export interface ServiceContext<C extends CommonConfig> {
  readonly config: C;
  readonly logger: Logger;
  readonly runtime: ServiceRuntime;
  readonly nc: NatsConnection;
  /** The process's one revocation subscriber, started on first use (services holding user or agent sockets). */
  readonly revocations: RevocationHub;
  /** The process's one client of the auth service (timeout AUTH_TIMEOUT_MS), created on first use. */
  readonly auth: AuthClient;
  /**
   * A verifier of user tokens of one audience through `auth`, with its verdict cache, emptied by `revocations` the
   * moment auth announces a revoked user or session.
   */
  userVerifier(options: PrincipalVerifierOptions): PrincipalVerifier;
}

export interface LaunchOptions<C extends CommonConfig> {
  name: string;
  config: C;
  logger?: Logger;
  /** NATS client name (shown by the server); default the service name. */
  natsName?: string;
  /** Largest JSON request body; default 64 KiB. */
  jsonBodyLimit?: string;
  /** The service keeps state in JetStream: setup waits until JetStream answers (default true). */
  usesJetStream?: boolean;
  /**
   * Wires the service: routes, upgrade handler, readiness checks, drain hooks. Drain hooks run in the order they
   * were added, all before NATS is drained.
   */
  setup(context: ServiceContext<C>): Promise<void> | void;
}

export interface LaunchedService<C extends CommonConfig> {
  context: ServiceContext<C>;
  runtime: ServiceRuntime;
  port: number;
}

/**
 * The one start-up shape of every service: config → runtime → NATS (readiness tells the truth about it) → the
 * service's setup → listen. Shutdown runs the service's drain hooks, then stops revocations and drains NATS.
 */
export async function launchService<C extends CommonConfig>(options: LaunchOptions<C>): Promise<LaunchedService<C>> {
  const { config, name } = options;
  const logger = options.logger ?? createLogger(name, config.LOG_LEVEL);
  const runtime = new ServiceRuntime({
    name,
    logger,
    host: config.HOST,
    port: config.PORT,
    trustedProxies: config.TRUSTED_PROXIES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    ...(options.jsonBodyLimit ? { jsonBodyLimit: options.jsonBodyLimit } : {}),
  });
  const nc = await connectNats({ servers: config.NATS_URL, name: options.natsName ?? name, logger });
  runtime.addReadinessCheck("nats", () => natsConnected(nc));
  let hub: RevocationHub | undefined;
  let auth: AuthClient | undefined;
  const context: ServiceContext<C> = {
    config,
    logger,
    runtime,
    nc,
    get revocations() {
      if (!hub) {
        hub = new RevocationHub(logger);
        hub.start(nc);
      }
      return hub;
    },
    get auth() {
      auth ??= new AuthClient(nc, config.AUTH_TIMEOUT_MS ?? DEFAULT_AUTH_TIMEOUT_MS);
      return auth;
    },
    // Not through `this`: services destructure their context.
    userVerifier(verifierOptions) {
      const client = context.auth;
      const verifier = new PrincipalVerifier((token, audience, source) => client.verifyToken(token, audience, source), verifierOptions);
      context.revocations.forgetRevokedIn(verifier);
      return verifier;
    },
  };
  try {
    if (options.usesJetStream !== false) await waitForJetStream(nc, logger);
    await options.setup(context);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  runtime.onDrain(async () => {
    hub?.stop();
    await nc.drain().catch(() => undefined);
  });
  const port = await runtime.listen();
  return { context, runtime, port };
}

/**
 * A service's entry point: loads its config (a bad one exits 78 naming every bad variable), launches it, and
 * drains on SIGTERM/SIGINT.
 */
export function runService<C extends CommonConfig>(
  name: string,
  loadConfig: () => C,
  setup: LaunchOptions<C>["setup"],
  options: (config: C) => Omit<LaunchOptions<C>, "name" | "config" | "setup"> = () => ({}),
): void {
  runMain(name, async () => {
    const config = loadConfig();
    const { runtime } = await launchService({ ...options(config), name, config, setup });
    runtime.installSignalHandlers();
  });
}
