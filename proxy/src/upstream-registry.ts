import type { RouteDefinition } from "./routes.js";
import { UpstreamPool } from "./upstream-pool.js";

/** One replica pool per service the routes name; setting replicas for any other name is a mistake, caught loudly. */
export class UpstreamRegistry {
  private readonly pools = new Map<string, UpstreamPool>();

  constructor(routes: readonly RouteDefinition<string>[], upstreams: Partial<Record<string, readonly string[]>>) {
    for (const route of routes) {
      if (!this.pools.has(route.service)) this.pools.set(route.service, new UpstreamPool(route.service, []));
    }
    for (const [service, urls] of Object.entries(upstreams)) this.set(service, urls ?? []);
  }

  get(service: string): UpstreamPool {
    const pool = this.pools.get(service);
    if (!pool) throw new Error(`unknown service ${JSON.stringify(service)}; the route table has ${[...this.pools.keys()].join(", ")}`);
    return pool;
  }

  set(service: string, urls: readonly string[]): void {
    this.get(service).setUrls(urls);
  }

  all(): Iterable<UpstreamPool> {
    return this.pools.values();
  }
}
