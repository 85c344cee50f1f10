import { AuthClient } from "./auth-client.js";
import { createLogger, type Logger } from "./logger.js";
import { connectNats, natsConnected, waitForJetStream, type NatsConnection } from "./nats.js";
import { PrincipalVerifier, type PrincipalVerifierOptions } from "./principal-verifier.js";
import { RevocationHub } from "./revocations.js";
import { runMain } from "./run-main.js";
import { ServiceRuntime } from "./service-runtime.js";

/** The variables every service reads (commonConfigShape without NATS_URL) plus its port. */
export interface RuntimeConfig {
  LOG_LEVEL: string;
  HOST: string;
  PORT: number;
  TRUSTED_PROXIES: readonly string[];
  SHUTDOWN_TIMEOUT_MS: number;
}

/** The variables of a service that talks over NATS (every one but web). */
export interface CommonConfig extends RuntimeConfig {
  NATS_URL: string;
  /** Timeout of calls to the auth service, for services that make them (ServiceContext.auth). */
  AUTH_TIMEOUT_MS?: number;
}

/** The auth client's timeout when a service's config has no AUTH_TIMEOUT_MS. */
export const DEFAULT_AUTH_TIMEOUT_MS = 2000;

/** What the setup of a service without NATS gets (`nats: false`): nothing listens yet. */
export interface RuntimeContext<C extends RuntimeConfig> {
  readonly config: C;
  readonly logger: Logger;
  readonly runtime: ServiceRuntime;
}

/** What a service's setup gets: everything is connected, nothing listens yet. */
export interface ServiceContext<C extends CommonConfig> extends RuntimeContext<C> {
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

interface CommonLaunchOptions<C extends RuntimeConfig> {
  name: string;
  config: C;
  logger?: Logger;
  /** Largest JSON request body; default 64 KiB. */
  jsonBodyLimit?: string;
}

export interface LaunchOptions<C extends CommonConfig> extends CommonLaunchOptions<C> {
  /** The service talks over NATS (the default). */
  nats?: true;
  /** NATS client name (shown by the server); default the service name. */
  natsName?: string;
  /** The service keeps state in JetStream: setup waits until JetStream answers (default true). */
  usesJetStream?: boolean;
  /**
   * Wires the service: routes, upgrade handler, readiness checks, drain hooks. Drain hooks run in the order they
   * were added, all before NATS is drained.
   */
  setup(context: ServiceContext<C>): Promise<void> | void;
}

/** A service without NATS (web): no connection, and no NATS in its readiness. */
export interface LaunchWithoutNatsOptions<C extends RuntimeConfig> extends CommonLaunchOptions<C> {
  nats: false;
  /** Wires the service: routes, readiness checks, drain hooks. */
  setup(context: RuntimeContext<C>): Promise<void> | void;
}

export interface LaunchedService<C extends CommonConfig> {
  context: ServiceContext<C>;
  runtime: ServiceRuntime;
  port: number;
}

export interface LaunchedWithoutNats<C extends RuntimeConfig> {
  context: RuntimeContext<C>;
  runtime: ServiceRuntime;
  port: number;
}

function createRuntime<C extends RuntimeConfig>(options: CommonLaunchOptions<C>): RuntimeContext<C> {
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
  return { config, logger, runtime };
}

async function connectContext<C extends CommonConfig>(base: RuntimeContext<C>, options: LaunchOptions<C>): Promise<{ context: ServiceContext<C>; stop: () => void }> {
  const { config, logger, runtime } = base;
  const nc = await connectNats({ servers: config.NATS_URL, name: options.natsName ?? options.name, logger });
  runtime.addReadinessCheck("nats", () => natsConnected(nc));
  let hub: RevocationHub | undefined;
  let auth: AuthClient | undefined;
  const context: ServiceContext<C> = {
    ...base,
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
  return { context, stop: () => hub?.stop() };
}

/**
 * The one start-up shape of every service: config → runtime → NATS (readiness tells the truth about it) → the
 * service's setup → listen. Shutdown runs the service's drain hooks, then stops revocations and drains NATS. With
 * `nats: false` (web) the NATS steps are left out.
 */
export function launchService<C extends CommonConfig>(options: LaunchOptions<C>): Promise<LaunchedService<C>>;
export function launchService<C extends RuntimeConfig>(options: LaunchWithoutNatsOptions<C>): Promise<LaunchedWithoutNats<C>>;
export async function launchService(
  options: LaunchOptions<CommonConfig> | LaunchWithoutNatsOptions<RuntimeConfig>,
): Promise<LaunchedWithoutNats<RuntimeConfig>> {
  const base = createRuntime(options);
  const { runtime } = base;
  if (options.nats === false) {
    await options.setup(base);
    return { context: base, runtime, port: await runtime.listen() };
  }
  const { context, stop } = await connectContext(base as RuntimeContext<CommonConfig>, options);
  try {
    if (options.usesJetStream !== false) await waitForJetStream(context.nc, context.logger);
    await options.setup(context);
  } catch (err) {
    await context.nc.close().catch(() => undefined);
    throw err;
  }
  runtime.onDrain(async () => {
    stop();
    await context.nc.drain().catch(() => undefined);
  });
  return { context, runtime, port: await runtime.listen() };
}

type ServiceOptions<O> = Omit<O, "name" | "config" | "setup">;

/**
 * A service's entry point: loads its config (a bad one exits 78 naming every bad variable), launches it, and
 * drains on SIGTERM/SIGINT.
 */
export function runService<C extends CommonConfig>(name: string, loadConfig: () => C, setup: LaunchOptions<C>["setup"], options?: (config: C) => ServiceOptions<LaunchOptions<C>>): void;
export function runService<C extends RuntimeConfig>(name: string, loadConfig: () => C, setup: LaunchWithoutNatsOptions<C>["setup"], options: (config: C) => ServiceOptions<LaunchWithoutNatsOptions<C>>): void;
export function runService(
  name: string,
  loadConfig: () => CommonConfig,
  setup: LaunchOptions<CommonConfig>["setup"] | LaunchWithoutNatsOptions<RuntimeConfig>["setup"],
  options: (config: CommonConfig) => ServiceOptions<LaunchOptions<CommonConfig>> | ServiceOptions<LaunchWithoutNatsOptions<RuntimeConfig>> = () => ({}),
): void {
  runMain(name, async () => {
    const config = loadConfig();
    // The overloads pair each setup with its options; the launch itself tells them apart by `nats`.
    const launch = { ...options(config), name, config, setup } as LaunchOptions<CommonConfig> | LaunchWithoutNatsOptions<RuntimeConfig>;
    const { runtime } = await (launch.nats === false ? launchService(launch) : launchService(launch));
    runtime.installSignalHandlers();
  });
}
