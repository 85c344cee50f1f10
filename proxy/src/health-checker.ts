import { request, type ClientRequest } from "node:http";
import type { Upstream, UpstreamPool } from "./upstream-pool.js";

export interface HealthCheckOptions {
  /** Time between rounds. */
  readonly intervalMs: number;
  /** A probe that takes longer fails. */
  readonly timeoutMs: number;
  /** Probed with GET on every replica. */
  readonly path: string;
  /** Called when a probe changes a replica's state. */
  readonly onChange: (pool: UpstreamPool, upstream: Upstream, healthy: boolean, reason: string | undefined) => void;
}

export interface ProbeResult {
  readonly healthy: boolean;
  readonly reason?: string;
}

/** One GET; healthy on 2xx or 3xx, as Traefik's health check. Never rejects. */
export function probe(url: URL, path: string, timeoutMs: number, track?: (req: ClientRequest) => void): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { method: "GET", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? { healthy: true } : { healthy: false, reason: `health check answered ${status}` });
    });
    req.on("timeout", () => req.destroy(new Error(`health check timed out after ${timeoutMs} ms`)));
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ healthy: false, reason: err.code ?? err.message }));
    track?.(req);
    req.end();
  });
}

/**
 * Active health checks for every pool, every `intervalMs`: each replica gets one probe at a time, and a round starts
 * at once on `start()` and whenever `checkNow()` is called (new replicas).
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Upstream>();
  private readonly requests = new Set<ClientRequest>();
  private stopped = false;

  constructor(
    private readonly pools: () => Iterable<UpstreamPool>,
    private readonly options: HealthCheckOptions,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    void this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One round over every replica not already being probed; resolves when the round's probes have answered. */
  async checkNow(): Promise<void> {
    if (this.stopped) return;
    const rounds: Promise<void>[] = [];
    for (const pool of this.pools()) {
      for (const upstream of pool.upstreams) {
        if (this.inFlight.has(upstream)) continue;
        this.inFlight.add(upstream);
        rounds.push(this.checkOne(pool, upstream).finally(() => this.inFlight.delete(upstream)));
      }
    }
    await Promise.all(rounds);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const req of this.requests) req.destroy();
    this.requests.clear();
  }

  private async checkOne(pool: UpstreamPool, upstream: Upstream): Promise<void> {
    const result = await probe(upstream.url, this.options.path, this.options.timeoutMs, (req) => {
      this.requests.add(req);
      req.once("close", () => this.requests.delete(req));
    });
    if (this.stopped) return;
    const changed = result.healthy ? pool.markUp(upstream) : pool.markDown(upstream, result.reason ?? "unhealthy");
    if (changed) this.options.onChange(pool, upstream, result.healthy, result.reason);
  }
}
