import { CodedError, type HostRecord } from "@patchmon-ws/protocol";
import { LimitedSources, toCodedError, type AuthClient } from "@patchmon-ws/service-kit";
import type { AgentCredentials } from "./agent-credentials.js";
import type { AgentWsMetrics } from "../metrics.js";

export interface AgentAuthenticatorOptions {
  /** Auth calls in flight at most; more upgrades get 503 + Retry-After instead of piling onto the auth service. */
  maxPending: number;
}

/** Retry-After (seconds) when too many upgrades wait for the auth service. */
const BUSY_RETRY_AFTER_SECONDS = 1;

/**
 * Checks an agent's X-API-ID / X-API-KEY with the auth service (NATS). The per-source failure limit is auth's, one
 * count across every replica: a source auth answered RATE_LIMITED for is refused here (429, the Retry-After auth
 * gave) without asking again until that time. An unreachable auth service or NATS is 503 with Retry-After, never
 * 401: an outage must not look like bad credentials.
 */
export class AgentAuthenticator {
  private pending = 0;

  constructor(
    private readonly auth: AuthClient,
    private readonly options: AgentAuthenticatorOptions,
    private readonly metrics: AgentWsMetrics,
    private readonly limited = new LimitedSources(),
  ) {}

  async verify(credentials: AgentCredentials, source: string): Promise<HostRecord> {
    const retryAfter = this.limited.retryAfterSeconds(source);
    if (retryAfter !== undefined) {
      this.metrics.authResults.inc({ result: "rate_limited" });
      throw new CodedError("RATE_LIMITED", "Too many failed agent authentications from this address; try again later.", { retryAfter });
    }
    if (this.pending >= this.options.maxPending) {
      this.metrics.authResults.inc({ result: "busy" });
      throw new CodedError("OVERLOADED", "Too many agents are authenticating at once; retry shortly.", {
        retryAfter: BUSY_RETRY_AFTER_SECONDS,
      });
    }
    this.pending++;
    try {
      const host = await this.auth.verifyAgent(credentials.apiId, credentials.apiKey, source);
      this.metrics.authResults.inc({ result: "ok" });
      return host;
    } catch (err) {
      const error = toCodedError(err);
      if (error.code === "INVALID_CREDENTIALS") {
        this.metrics.authResults.inc({ result: "invalid" });
      } else if (error.code === "RATE_LIMITED") {
        this.limited.limit(source, error.retryAfter ?? 1);
        this.metrics.authResults.inc({ result: "rate_limited" });
      } else {
        this.metrics.authResults.inc({ result: "unavailable" });
      }
      throw error;
    } finally {
      this.pending--;
    }
  }

  get inFlight(): number {
    return this.pending;
  }
}
