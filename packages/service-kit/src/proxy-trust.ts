import { BlockList, isIP } from "node:net";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";

/**
 * Decides which `X-Forwarded-*` headers to believe: only those sent by a peer inside the configured proxy CIDRs
 * ("Trust at the edge" in docs/architecture.md). Everything else about the client is taken from the socket.
 */
export class ProxyTrust {
  private readonly trusted = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, prefixText] = cidr.split("/");
      const family = isIP(address ?? "");
      if (family === 0) throw new Error(`TRUSTED_PROXIES: ${JSON.stringify(cidr)} is not an IP address or CIDR`);
      const type = family === 6 ? "ipv6" : "ipv4";
      if (prefixText === undefined) {
        this.trusted.addAddress(address!, type);
        continue;
      }
      const prefix = Number(prefixText);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new Error(`TRUSTED_PROXIES: ${JSON.stringify(cidr)} has an invalid prefix length`);
      }
      this.trusted.addSubnet(address!, prefix, type);
    }
  }

  /** Whether a peer address (as the socket reports it) is a trusted proxy. */
  isTrusted(address: string | undefined): boolean {
    if (!address) return false;
    const plain = address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(plain);
    if (family === 0) return false;
    return this.trusted.check(plain, family === 6 ? "ipv6" : "ipv4");
  }

  private fromTrustedProxy(req: IncomingMessage): boolean {
    return this.isTrusted(req.socket.remoteAddress);
  }

  /** First value of a possibly comma-joined, possibly repeated header. */
  private static first(value: string | string[] | undefined): string | undefined {
    const joined = Array.isArray(value) ? value[0] : value;
    const head = joined?.split(",")[0]?.trim();
    return head ? head : undefined;
  }

  /** The connection is secure when its socket is TLS or a trusted proxy says the client used https/wss. */
  isSecure(req: IncomingMessage): boolean {
    if ((req.socket as TLSSocket).encrypted) return true;
    if (!this.fromTrustedProxy(req)) return false;
    const proto = ProxyTrust.first(req.headers["x-forwarded-proto"])?.toLowerCase();
    return proto === "https" || proto === "wss";
  }

  /**
   * The client's address: the right-most X-Forwarded-For entry that is not itself a trusted proxy, when the peer
   * is a trusted proxy; otherwise the socket's peer.
   */
  clientAddress(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? "unknown";
    if (!this.isTrusted(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!this.isTrusted(hop)) return hop;
    }
    return hops[0] ?? peer;
  }

  /** The Host the client asked for (X-Forwarded-Host from a trusted proxy, else Host). */
  host(req: IncomingMessage): string | undefined {
    const forwarded = this.fromTrustedProxy(req) ? ProxyTrust.first(req.headers["x-forwarded-host"]) : undefined;
    return forwarded ?? req.headers.host;
  }

  /** The origin the client sees, e.g. https://patchmon.example.com, for same-origin checks and absolute URLs. */
  publicOrigin(req: IncomingMessage): string | undefined {
    const host = this.host(req);
    return host ? `${this.isSecure(req) ? "https" : "http"}://${host}` : undefined;
  }
}
