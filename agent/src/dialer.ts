/**
 * Opens the agent's WebSocket exactly as the stock agent would (64 KiB read limit, no compression, bounded
 * handshake, no redirects), with TLS (extra CA or explicit insecure) and the proxy decided once. One Dialer can
 * serve many agents: a simulation shares its https.Agent (TLS session resumption across agents) or proxy agent.
 */
import type { ClientRequest } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { HttpsProxyAgent } from "https-proxy-agent";
import WebSocket, { type ClientOptions } from "ws";
import { AGENT_READ_LIMIT_BYTES, type AgentSettings } from "./options.js";
import { proxyForTarget, redactProxy, type Env } from "./proxy-env.js";

export interface DialerDescription {
  url: string;
  /** Proxy URL without credentials, when one is used. */
  proxy?: string;
  tls: "none" | "system-roots" | "custom-ca" | "insecure";
}

/** How long stop() waits for the server's close frame before destroying the socket. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Upper bound on TLS sessions kept for resumption (one per server address in practice). */
const MAX_CACHED_TLS_SESSIONS = 100;

export class Dialer {
  readonly url: URL;
  readonly proxy: URL | undefined;
  private readonly baseOptions: ClientOptions;
  private readonly agent: HttpsAgent | HttpsProxyAgent<string> | undefined;
  /** Requests whose proxy CONNECT was refused (status), so the refusal is not mistaken for the server's. */
  private readonly refusedByProxy = new WeakMap<ClientRequest, number>();
  private readonly secure: boolean;
  private readonly tlsMode: DialerDescription["tls"];

  constructor(settings: Pick<AgentSettings, "url" | "ca" | "insecure" | "proxy" | "handshakeTimeoutMs">, env: Env = process.env) {
    this.url = new URL(settings.url);
    this.secure = this.url.protocol === "wss:";
    this.proxy = proxyForTarget(this.url, settings.proxy, env);

    let secureContext: SecureContext | undefined;
    if (settings.ca !== undefined) {
      // `ca` alone would replace Node's roots; the option means "also trust this CA". One context, built once, is
      // shared by every connection (and keeps https.Agent's pool key small).
      secureContext = createSecureContext({ ca: [...rootCertificates, settings.ca.toString()] });
    }
    this.tlsMode = !this.secure ? "none" : settings.insecure ? "insecure" : secureContext ? "custom-ca" : "system-roots";
    const tlsOptions = this.secure ? { rejectUnauthorized: !settings.insecure, ...(secureContext ? { secureContext } : {}) } : {};

    if (this.proxy) {
      // The same TLS trust applies to an https:// proxy, as in Go's transport.
      const proxyAgent = new HttpsProxyAgent(this.proxy.href, { keepAlive: false, ...(this.proxy.protocol === "https:" ? tlsOptions : {}) });
      proxyAgent.on("proxyConnect", (connect: { statusCode: number }, req: ClientRequest) => {
        if (connect.statusCode !== 200) this.refusedByProxy.set(req, connect.statusCode);
      });
      this.agent = proxyAgent;
    } else if (this.secure) {
      this.agent = new HttpsAgent({ keepAlive: false, maxCachedSessions: MAX_CACHED_TLS_SESSIONS });
    }

    this.baseOptions = {
      handshakeTimeout: settings.handshakeTimeoutMs,
      maxPayload: AGENT_READ_LIMIT_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      ...tlsOptions,
      ...(this.agent ? { agent: this.agent } : {}),
    };
    const extra = this.baseOptions as Record<string, unknown>;
    // Not in @types/ws yet (ws >= 8.18): wait at most 5 s for the peer's close frame, then destroy the socket.
    extra.closeTimeout = CLOSE_TIMEOUT_MS;
    // agent-base guesses http vs https from the call stack unless told; say it explicitly.
    if (this.proxy) extra.secureEndpoint = this.secure;
  }

  dial(headers: Record<string, string>): WebSocket {
    return new WebSocket(this.url, { ...this.baseOptions, headers });
  }

  /** The status a proxy answered to CONNECT for this upgrade request, when it refused the tunnel. */
  proxyRefusal(req: ClientRequest): number | undefined {
    return this.refusedByProxy.get(req);
  }

  describe(): DialerDescription {
    return { url: this.url.href, ...(this.proxy ? { proxy: redactProxy(this.proxy) } : {}), tls: this.tlsMode };
  }

  /** Frees pooled resources (TLS session cache). Open connections are not affected. */
  close(): void {
    this.agent?.destroy();
  }
}
