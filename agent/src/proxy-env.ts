/**
 * Which proxy (if any) the agent dials through, following Go's net/http rules (the stock agent's): HTTPS_PROXY
 * (then https_proxy) for wss://, HTTP_PROXY (then http_proxy) for ws://, NO_PROXY / no_proxy exclusions, and
 * "localhost" or loopback addresses never proxied. PatchMon #849/#348: the stock skip-verify dialer ignored the proxy;
 * here the proxy applies in every TLS mode.
 */
import { BlockList, isIP } from "node:net";

export type Env = Record<string, string | undefined>;

export class ProxyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProxyConfigError";
  }
}

/**
 * The proxy URL for `target`, or undefined for a direct connection.
 * @param explicit AgentOptions.proxy: a proxy URL used for both ws:// and wss:// instead of the environment;
 *   "" disables proxying. NO_PROXY still applies.
 */
export function proxyForTarget(target: URL, explicit: string | undefined, env: Env): URL | undefined {
  const secure = target.protocol === "wss:" || target.protocol === "https:";
  const configured = explicit ?? (secure ? firstSet(env, "HTTPS_PROXY", "https_proxy") : firstSet(env, "HTTP_PROXY", "http_proxy"));
  if (!configured) return undefined;
  const host = hostOf(target);
  const port = target.port ? Number(target.port) : secure ? 443 : 80;
  if (isLoopback(host)) return undefined;
  if (bypassesProxy(host, port, firstSet(env, "NO_PROXY", "no_proxy") ?? "")) return undefined;
  return parseProxyUrl(configured);
}

/** Parses a proxy setting; a bare "host:port" means http://host:port, as in Go. */
export function parseProxyUrl(value: string): URL {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? text : `http://${text}`);
  } catch {
    throw new ProxyConfigError(`proxy "${redactProxy(text)}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigError(`proxy scheme "${url.protocol}" is not supported (use an http:// or https:// proxy)`);
  }
  if (!url.hostname) throw new ProxyConfigError(`proxy "${redactProxy(text)}" has no host`);
  return url;
}

/** True when NO_PROXY excludes host:port. Entries: "*", domain (and its subdomains), ".domain" (subdomains only),
 * "*.domain", IP, CIDR, each optionally with ":port". */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const name = normaliseHost(host);
  const ip = isIP(name) ? name : undefined;
  for (const raw of noProxy.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    if (entry.includes("/")) {
      if (ip && cidrContains(entry, ip)) return true;
      continue;
    }
    const { host: entryHost, port: entryPort } = splitHostPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (isIP(entryHost)) {
      if (ip && ip === entryHost) return true;
      continue;
    }
    if (ip) continue;
    const domain = entryHost.startsWith("*.") ? entryHost.slice(1) : entryHost;
    if (domain.startsWith(".")) {
      if (name.endsWith(domain)) return true;
    } else if (name === domain || name.endsWith(`.${domain}`)) {
      return true;
    }
  }
  return false;
}

/** The proxy URL without credentials, for logs. */
export function redactProxy(value: string | URL): string {
  if (typeof value === "string") return value.replace(/\/\/[^@/]*@/, "//[REDACTED]@");
  if (!value.username && !value.password) return value.href;
  const copy = new URL(value.href);
  copy.username = "[REDACTED]";
  copy.password = "";
  return copy.href;
}

function firstSet(env: Env, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

function hostOf(url: URL): string {
  return normaliseHost(url.hostname);
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

function isLoopback(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith("127.");
  if (family === 6) return host === "::1" || /^::ffff:127\./.test(host);
  return false;
}

function splitHostPort(entry: string): { host: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] ?? "", port: bracketed[2] ? Number(bracketed[2]) : undefined };
  // A bare IPv6 address has several colons and no port.
  if (isIP(entry) === 6) return { host: entry, port: undefined };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  if (withPort) return { host: withPort[1] ?? "", port: Number(withPort[2]) };
  return { host: entry, port: undefined };
}

function cidrContains(cidr: string, ip: string): boolean {
  const [network, bits] = cidr.split("/");
  const family = network ? isIP(network) : 0;
  const prefix = Number(bits);
  if (!network || family === 0 || family !== isIP(ip) || !Number.isInteger(prefix)) return false;
  if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  const type = family === 4 ? "ipv4" : "ipv6";
  list.addSubnet(network, prefix, type);
  return list.check(ip, type);
}
