import { connect } from "@nats-io/transport-node";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import { CodedError, errorReply } from "@patchmon-ws/protocol";
import type { Logger } from "./logger.js";

export type { NatsConnection, Subscription };

export interface NatsOptions {
  servers: string;
  name: string;
  logger: Logger;
}

const connectedState = new WeakMap<NatsConnection, boolean>();

/** Whether the connection is up right now (false while reconnecting); for /readyz. */
export function natsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && !nc.isDraining() && (connectedState.get(nc) ?? true);
}

/** Connects to NATS, retrying the first connection and reconnecting forever; logs status changes. */
export async function connectNats({ servers, name, logger }: NatsOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: servers.split(",").map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
    timeout: 5000,
    // nats.js otherwise captures stack traces for every request: measurable CPU on hot paths (agent upgrades).
    noAsyncTraces: true,
  });
  logger.info({ server: nc.getServer() }, "nats connected");
  connectedState.set(nc, true);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connectedState.set(nc, false);
      if (status.type === "reconnect") connectedState.set(nc, true);
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        logger.warn({ nats: status.type, server: "server" in status ? status.server : undefined }, "nats status");
      }
    }
  })();
  return nc;
}

/**
 * Waits until JetStream answers on this connection (`$JS.API.INFO`): a service starting beside a NATS cluster that is
 * still electing its JetStream leader (a compose or Kubernetes start, a node restart) waits instead of dying on its
 * first bucket. Throws after `timeoutMs`.
 */
export async function waitForJetStream(nc: NatsConnection, logger: Logger, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let logged = false;
  for (;;) {
    let problem: string;
    try {
      const reply = (await nc.request("$JS.API.INFO", undefined, { timeout: 2000 })).json<{ error?: { description?: string } }>();
      if (!reply.error) return;
      problem = reply.error.description ?? "JetStream error";
    } catch (err) {
      problem = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`JetStream is not available after ${Math.round(timeoutMs / 1000)} s: ${problem}`);
    if (!logged) logger.warn({ problem }, "waiting for JetStream");
    logged = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const encoder = new TextEncoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * A JSON request/reply call. Transport failures (no responders, timeout, closed connection) become
 * DEPENDENCY_UNAVAILABLE, so an outage never looks like bad credentials; a malformed reply becomes INTERNAL.
 */
export async function requestJson<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  replySchema: S,
  timeoutMs = 2000,
): Promise<z.infer<S>> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, encodeJson(body), { timeout: timeoutMs });
  } catch (err) {
    throw new CodedError("DEPENDENCY_UNAVAILABLE", `${subject.split(".")[0]} service unavailable`, {
      retryAfter: 2,
      cause: err,
    });
  }
  let parsed: unknown;
  try {
    parsed = msg.json();
  } catch (err) {
    throw new CodedError("INTERNAL", `malformed reply on ${subject}`, { cause: err });
  }
  const result = replySchema.safeParse(parsed);
  if (!result.success) throw new CodedError("INTERNAL", `unexpected reply on ${subject}`, { cause: result.error });
  return result.data;
}

/** Turns `{ok:false,...}` replies into thrown CodedErrors and returns the successful reply. */
export function unwrapReply<T extends { ok: boolean }>(reply: T): Extract<T, { ok: true }> {
  if (!reply.ok) throw CodedError.fromBody(reply as { code?: unknown; error?: unknown; retryAfter?: unknown });
  return reply as Extract<T, { ok: true }>;
}

export interface ResponderOptions<S extends z.ZodType> {
  subject: string;
  queue?: string;
  request: S;
  handler: (request: z.infer<S>, msg: Msg) => Promise<object> | object;
  logger: Logger;
}

/**
 * The reply to a request whose handler failed: a CodedError as auth chose it, anything else INTERNAL (logged, its
 * message kept out of the reply). serveJson answers with it, and so does a handler answering a batch item by item.
 */
export function errorReplyFor(error: unknown, subject: string, logger: Logger): ReturnType<typeof errorReply> {
  if (error instanceof CodedError) return errorReply(error.code, error.message, error.retryAfter);
  logger.error({ err: error, subject }, "request handler failed");
  return errorReply("INTERNAL");
}

/**
 * Serves JSON request/reply on a subject. Requests are handled concurrently; invalid requests get a
 * VALIDATION_FAILED reply, CodedErrors their own code, anything else INTERNAL (logged, never echoed).
 */
export function serveJson<S extends z.ZodType>(nc: NatsConnection, options: ResponderOptions<S>): Subscription {
  const { subject, queue, request, handler, logger } = options;
  const respond = (msg: Msg, body: object) => {
    if (msg.reply) msg.respond(encodeJson(body));
  };
  return nc.subscribe(subject, {
    ...(queue ? { queue } : {}),
    callback: (err, msg) => {
      if (err) {
        logger.error({ err, subject }, "nats subscription failed");
        return;
      }
      let parsed: z.infer<S>;
      try {
        const result = request.safeParse(msg.json());
        if (!result.success) {
          respond(msg, errorReply("VALIDATION_FAILED", result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")));
          return;
        }
        parsed = result.data;
      } catch {
        respond(msg, errorReply("BAD_REQUEST", "request is not JSON"));
        return;
      }
      Promise.resolve()
        .then(() => handler(parsed, msg))
        .then(
          (body) => respond(msg, body),
          (error: unknown) => respond(msg, errorReplyFor(error, subject, logger)),
        );
    },
  });
}
