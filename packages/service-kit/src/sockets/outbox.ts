/**
 * A message ready for sockets: serialised once and shared by every socket it goes to. `coalesceKey` marks state
 * that a newer message of the same key supersedes; `droppable` marks events a slow socket may lose (and is told
 * about with a gap message).
 */
export interface OutboxMessage {
  readonly json: string;
  readonly coalesceKey?: string;
  readonly droppable: boolean;
}

/**
 * Messages waiting for one slow socket, bounded. Messages with a coalesce key keep only their latest value, moved
 * to the back so it follows the events it reflects. Droppable messages beyond `maxDroppable` are dropped
 * oldest-first; the next message taken is then the stream's gap message saying how many were lost, so nothing
 * disappears silently. Everything else is kept: a source of non-droppable messages must pause on back-pressure
 * (BufferedSender tells it when).
 */
export class Outbox<M extends OutboxMessage> {
  private readonly pending: M[] = [];
  private droppables = 0;
  private dropped = 0;
  private droppedTotal = 0;

  constructor(
    private readonly maxDroppable: number,
    private readonly gap: (dropped: number) => M,
  ) {}

  push(message: M): void {
    if (message.coalesceKey !== undefined) {
      const index = this.pending.findIndex((m) => m.coalesceKey === message.coalesceKey);
      if (index !== -1) this.pending.splice(index, 1);
    }
    if (message.droppable) {
      if (this.droppables >= this.maxDroppable) this.dropOldest();
      this.droppables++;
    }
    this.pending.push(message);
  }

  /** The next message to send (a gap message first when events were dropped), or undefined when empty. */
  shift(): M | undefined {
    if (this.dropped > 0) {
      const gap = this.gap(this.dropped);
      this.dropped = 0;
      return gap;
    }
    const next = this.pending.shift();
    if (next?.droppable) this.droppables--;
    return next;
  }

  get size(): number {
    return this.pending.length + (this.dropped > 0 ? 1 : 0);
  }

  /** Messages dropped since this outbox was created. */
  get totalDropped(): number {
    return this.droppedTotal;
  }

  private dropOldest(): void {
    const index = this.pending.findIndex((m) => m.droppable);
    if (index === -1) return;
    this.pending.splice(index, 1);
    this.droppables--;
    this.dropped++;
    this.droppedTotal++;
  }
}

/** The part of a ws WebSocket the sender needs. */
export interface BufferedSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string, cb: (err?: Error) => void): void;
}

export interface BufferedSenderOptions<M extends OutboxMessage> {
  /** Droppable messages held at most (see Outbox). */
  maxQueued: number;
  /** Bytes in the socket's send buffer above which messages wait in the outbox. */
  highWaterBytes: number;
  /** The stream's gap message. */
  gap: (dropped: number) => M;
  /** Back-pressure for sources that must not drop: true = pause producing, false = resume. Called on changes only. */
  onPressure?: (paused: boolean) => void;
  onDropped?: (count: number) => void;
}

const OPEN = 1;

/**
 * Feeds one socket from a bounded outbox, only while the socket's send buffer is below the high-water mark; sends
 * resume from ws's send callbacks, so a slow reader never makes the process buffer without bound. Sources that
 * cannot drop (terminal output) pause when `onPressure(true)` and resume at half the mark.
 */
export class BufferedSender<M extends OutboxMessage> {
  private readonly outbox: Outbox<M>;
  private paused = false;
  private stopped = false;
  private flushWaiters: (() => void)[] | undefined;
  private readonly onSent = (err?: Error) => {
    if (!err) this.flush();
  };

  constructor(
    private readonly socket: BufferedSocket,
    private readonly options: BufferedSenderOptions<M>,
  ) {
    this.outbox = new Outbox(options.maxQueued, options.gap);
  }

  push(message: M): void {
    if (this.stopped) return;
    const droppedBefore = this.outbox.totalDropped;
    this.outbox.push(message);
    const dropped = this.outbox.totalDropped - droppedBefore;
    if (dropped > 0) this.options.onDropped?.(dropped);
    this.flush();
  }

  /** Nothing more is sent (the socket is closing). */
  stop(): void {
    this.stopped = true;
  }

  get queued(): number {
    return this.outbox.size;
  }

  /**
   * Resolves once everything queued so far was handed to the socket (its last messages before a close), or when the
   * socket is gone; `stop()` does not resolve it.
   */
  whenFlushed(): Promise<void> {
    if (this.outbox.size === 0 || this.socket.readyState !== OPEN) return Promise.resolve();
    return new Promise<void>((resolve) => (this.flushWaiters ??= []).push(resolve));
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private flush(): void {
    const { socket, options } = this;
    while (!this.stopped && socket.readyState === OPEN && socket.bufferedAmount < options.highWaterBytes) {
      const next = this.outbox.shift();
      if (!next) break;
      socket.send(next.json, this.onSent);
    }
    if (this.flushWaiters && (this.outbox.size === 0 || socket.readyState !== OPEN)) {
      const waiters = this.flushWaiters;
      this.flushWaiters = undefined;
      for (const resolve of waiters) resolve();
    }
    const pressed = this.outbox.size > 0 || socket.bufferedAmount >= options.highWaterBytes;
    const relieved = this.outbox.size === 0 && socket.bufferedAmount < options.highWaterBytes / 2;
    if (!this.paused && pressed) this.setPaused(true);
    else if (this.paused && relieved) this.setPaused(false);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.options.onPressure?.(paused);
  }
}
