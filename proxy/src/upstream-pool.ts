/** One replica of a service. `healthy` is flipped by the pool only. */
export interface Upstream {
  readonly url: URL;
  readonly healthy: boolean;
  /** Why it was last marked down, for logs. */
  readonly lastError: string | undefined;
}

interface MutableUpstream {
  url: URL;
  healthy: boolean;
  lastError: string | undefined;
}

/** Validates an upstream URL: plain http with a host, nothing else (services speak plain HTTP behind the edge). */
export function parseUpstreamUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "http:") throw new Error(`${JSON.stringify(text)}: upstreams must be http:// URLs`);
  if (url.pathname !== "/" || url.search || url.hash || url.username) {
    throw new Error(`${JSON.stringify(text)}: an upstream URL is scheme, host and port only`);
  }
  return url;
}

/**
 * The replicas of one service, spread round-robin (Traefik's weighted round robin with equal weights). Replicas
 * start healthy, as in Traefik; the health checker and failed connections mark them down, health checks bring them
 * back.
 */
export class UpstreamPool {
  private members: MutableUpstream[] = [];
  private cursor = 0;

  constructor(
    readonly service: string,
    urls: readonly string[],
  ) {
    this.setUrls(urls);
  }

  /** Replaces the replica list; replicas that stay keep their health state. */
  setUrls(urls: readonly string[]): void {
    const parsed = urls.map(parseUpstreamUrl);
    const previous = new Map(this.members.map((m) => [m.url.href, m]));
    const seen = new Set<string>();
    this.members = [];
    for (const url of parsed) {
      if (seen.has(url.href)) continue;
      seen.add(url.href);
      this.members.push(previous.get(url.href) ?? { url, healthy: true, lastError: undefined });
    }
    this.cursor = 0;
  }

  get upstreams(): readonly Upstream[] {
    return this.members;
  }

  get size(): number {
    return this.members.length;
  }

  get liveCount(): number {
    return this.members.filter((m) => m.healthy).length;
  }

  /** The next healthy replica in turn, skipping those in `exclude`; undefined when none is left. */
  next(exclude: ReadonlySet<Upstream> = new Set()): Upstream | undefined {
    const count = this.members.length;
    for (let step = 0; step < count; step++) {
      const index = (this.cursor + step) % count;
      const candidate = this.members[index]!;
      if (candidate.healthy && !exclude.has(candidate)) {
        this.cursor = (index + 1) % count;
        return candidate;
      }
    }
    return undefined;
  }

  /** Marks a replica down; true when this changed its state. */
  markDown(upstream: Upstream, reason: string): boolean {
    const member = this.find(upstream);
    if (!member) return false;
    member.lastError = reason;
    if (!member.healthy) return false;
    member.healthy = false;
    return true;
  }

  /** Marks a replica up; true when this changed its state. */
  markUp(upstream: Upstream): boolean {
    const member = this.find(upstream);
    if (!member || member.healthy) return false;
    member.healthy = true;
    member.lastError = undefined;
    return true;
  }

  private find(upstream: Upstream): MutableUpstream | undefined {
    return this.members.find((m) => m === upstream);
  }
}
