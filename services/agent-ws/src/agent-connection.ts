import { randomUUID } from "node:crypto";
import { closeReason, type DisconnectReason } from "@patchmon-ws/protocol";
import { GarbageCounter, type GarbageCounterOptions } from "./garbage-counter.js";
import { HeartbeatState } from "./heartbeat.js";
import { PendingAcks } from "./pending-acks.js";
import type { ConnectionFacts } from "./presence-record.js";

/** The part of a `ws` WebSocket a connection uses; tests pass a fake. */
export interface AgentSocket {
  readonly readyState: number;
  send(data: string, cb: (err?: Error) => void): void;
  ping(): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

/** ws readyState OPEN. */
const OPEN = 1;

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
 * One agent's live WebSocket and what the server knows about it. Per-connection state is kept small (10 000 of
 * these per replica): the garbage counter and the ack table are created on first use.
 */
export class AgentConnection {
  readonly hostId: string;
  readonly apiId: string;
  readonly connectionId: string;
  readonly replica: string;
  readonly since: number;
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly heartbeat = new HeartbeatState();
  agentVersion: string | null = null;
  capabilities: readonly string[] = [];
  /** Set when the server decides to end the connection, so the close is recorded with the right reason. */
  endReason: DisconnectReason | null = null;
  /** Presence has taken (or is writing) this connection's record: later changes (hello) need their own write. */
  presenceRecorded = false;
  /** The socket has closed. */
  isReleased = false;
  private garbage: GarbageCounter | undefined;
  private acks: PendingAcks | undefined;
  private helloWaiters: (() => void)[] | undefined;
  private helloSeen = false;

  constructor(
    readonly socket: AgentSocket,
    init: AgentConnectionInit,
  ) {
    this.hostId = init.hostId;
    this.apiId = init.apiId;
    this.replica = init.replica;
    this.secure = init.secure;
    this.remoteAddress = init.remoteAddress;
    this.since = init.since ?? Date.now();
    this.connectionId = init.connectionId ?? randomUUID();
  }

  get open(): boolean {
    return this.socket.readyState === OPEN && this.endReason === null;
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
    this.agentVersion = agentVersion;
    this.capabilities = [...new Set(capabilities)];
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

  /** Writes one text frame; resolves once it was handed to the socket, rejects if the socket is gone. */
  write(frame: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.socket.readyState !== OPEN) {
        reject(new Error("agent socket is not open"));
        return;
      }
      this.socket.send(frame, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Ends the connection with a close frame, recording why. The first reason given wins. */
  end(code: number, reason: DisconnectReason, text: string): void {
    this.endReason ??= reason;
    try {
      this.socket.close(code, closeReason(text));
    } catch {
      this.socket.terminate();
    }
  }

  /** Drops a dead peer without a close handshake. */
  kill(reason: DisconnectReason): void {
    this.endReason ??= reason;
    this.socket.terminate();
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
