import { randomUUID } from "node:crypto";
import type { CloseCodeValue, DisconnectReason, RevocationEvent } from "@patchmon-ws/protocol";
import type { RawData } from "ws";
import { GarbageCounter, LiveSocket, type GarbageCounterOptions, type Revocable, type SocketEvents, type SocketLike } from "@patchmon-ws/service-kit";

/** Where a connection's socket events go (the gateway). */
export interface ConnectionEvents {
  frame(connection: AgentConnection, data: Buffer | string, isBinary: boolean): void;
  error(connection: AgentConnection, err: Error & { code?: string }): void;
  closed(connection: AgentConnection, code: number): void;
}
import { PendingAcks } from "./pending-acks.js";
import type { ConnectionFacts } from "../presence/presence-record.js";

/** Distinct hellos (version and capability list) shared across connections at most. */
const MAX_SHARED_HELLOS = 256;
const sharedHellos = new Map<string, { agentVersion: string; capabilities: readonly string[] }>();

/**
 * A fleet's hellos repeat a handful of versions and capability lists: connections keep one shared copy of each
 * instead of their own strings and array. Bounded, so peers inventing versions only go unshared.
 */
function sharedHello(agentVersion: string, capabilities: readonly string[]): { agentVersion: string; capabilities: readonly string[] } {
  const unique = [...new Set(capabilities)];
  const key = JSON.stringify([agentVersion, unique]);
  let shared = sharedHellos.get(key);
  if (!shared) {
    shared = { agentVersion, capabilities: Object.freeze(unique) };
    if (sharedHellos.size < MAX_SHARED_HELLOS) sharedHellos.set(key, shared);
  }
  return shared;
}

/** The part of a `ws` WebSocket a connection uses; tests pass a fake. */
export type AgentSocket = SocketLike;

export interface AgentConnectionInit {
  hostId: string;
  apiId: string;
  replica: string;
  secure: boolean;
  remoteAddress: string;
  since?: number;
  connectionId?: string;
}

/**
 * One agent's live WebSocket and what the server knows about it, on the kit's socket lifecycle (heartbeat,
 * closing state, ping-flood policy, rate-limited warnings). Per-connection state is kept small (10 000 of these
 * per replica): the garbage counter and the ack table are created on first use.
 */
export class AgentConnection extends LiveSocket<DisconnectReason> implements Revocable, SocketEvents {
  readonly hostId: string;
  readonly apiId: string;
  readonly connectionId: string;
  readonly replica: string;
  readonly since: number;
  readonly secure: boolean;
  readonly remoteAddress: string;
  agentVersion: string | null = null;
  capabilities: readonly string[] = [];
  /** Presence has taken (or is writing) this connection's record: later changes (hello) need their own write. */
  presenceRecorded = false;
  /** The socket has closed. */
  isReleased = false;
  private garbage: GarbageCounter | undefined;
  private acks: PendingAcks | undefined;
  private helloWaiters: (() => void)[] | undefined;
  private helloSeen = false;

  constructor(
    socket: AgentSocket,
    init: AgentConnectionInit,
    private readonly events: ConnectionEvents,
  ) {
    super(socket);
    this.hostId = init.hostId;
    this.apiId = init.apiId;
    this.replica = init.replica;
    this.secure = init.secure;
    this.remoteAddress = init.remoteAddress;
    this.since = init.since ?? Date.now();
    this.connectionId = init.connectionId ?? randomUUID();
  }

  /** Whether the agent announced end-to-end acks in its hello. */
  get acksCommands(): boolean {
    return this.capabilities.includes("ack");
  }

  facts(): ConnectionFacts {
    return {
      hostId: this.hostId,
      apiId: this.apiId,
      connectionId: this.connectionId,
      replica: this.replica,
      since: this.since,
      secure: this.secure,
      remoteAddress: this.remoteAddress,
      agentVersion: this.agentVersion,
      capabilities: this.capabilities,
    };
  }

  /** Records the agent's hello and releases commands waiting for it. */
  hello(agentVersion: string, capabilities: readonly string[]): void {
    const shared = sharedHello(agentVersion, capabilities);
    this.agentVersion = shared.agentVersion;
    this.capabilities = shared.capabilities;
    this.settleHello();
  }

  /**
   * Resolves once the agent said hello, or `graceMs` after the connection opened (a stock agent never does), so
   * a command sent right after a reconnect knows whether to wait for an ack.
   */
  helloSettled(graceMs: number): Promise<void> {
    const remaining = this.since + graceMs - Date.now();
    if (this.helloSeen || remaining <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, remaining);
      (this.helloWaiters ??= []).push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Counts an invalid frame; true once the peer crossed the limit. */
  recordGarbage(options: GarbageCounterOptions): boolean {
    return (this.garbage ??= new GarbageCounter(options)).record();
  }

  /** Waits for the agent's ack of `commandId` (register before writing: the ack may come fast). */
  waitForAck(commandId: string, timeoutMs: number) {
    return (this.acks ??= new PendingAcks()).wait(commandId, timeoutMs);
  }

  /** Delivers an ack; false when nothing waited for it. */
  ack(commandId: string, ok: boolean, error?: string): boolean {
    return this.acks?.ack(commandId, ok, error) ?? false;
  }

  onMessage(data: RawData, isBinary: boolean): void {
    this.events.frame(this, data as Buffer, isBinary);
  }

  onSocketError(err: Error & { code?: string }): void {
    this.events.error(this, err);
  }

  onClosed(code: number): void {
    this.events.closed(this, code);
  }

  /** A revocation event for this host: a deleted host closes with HOST_DELETED, a rotated key with CREDENTIALS_REVOKED. */
  revoked(code: CloseCodeValue, text: string, event: RevocationEvent): void {
    this.end(code, event.reason === "host_deleted" ? "host_deleted" : "credentials_revoked", text);
  }

  /** The socket closed: nothing waits on this connection any more. */
  released(): void {
    this.isReleased = true;
    this.acks?.closeAll();
    this.settleHello();
  }

  private settleHello(): void {
    this.helloSeen = true;
    const waiters = this.helloWaiters;
    this.helloWaiters = undefined;
    for (const release of waiters ?? []) release();
  }
}
