import type { ServerResponse } from "node:http";
import { CodedError, type Principal } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import { hostStatus, type HostSelection, type HostStatus } from "./host-selection.js";
import type { PresenceChange, PresenceView } from "./presence-view.js";
import { sseComment, sseEvent, sseRetry } from "./sse.js";

export interface StatusStreamsOptions {
  keepaliveMs: number;
  perUserLimit: number;
  /** A stream whose client stopped reading is closed once this much output is buffered. */
  maxBufferedBytes?: number;
  logger: Logger;
  onCountChange?: (open: number) => void;
}

interface Stream {
  res: ServerResponse;
  principal: Principal;
  selection: HostSelection;
  ids: Set<string> | null;
  expiry: NodeJS.Timeout;
}

/** How long an EventSource waits before reconnecting after the stream ends. */
const RECONNECT_HINT_MS = 3000;

/**
 * Live status for the UI over Server-Sent Events: one stream covers many hosts (or all), starts with a snapshot
 * and then carries every presence change, cluster-wide (the presence view watches the KV bucket), so the UI never
 * polls per host. A stream ends when its credential expires or is revoked, or the replica drains; EventSource
 * then reconnects with a fresh ticket.
 */
export class StatusStreams {
  private readonly streams = new Set<Stream>();
  private readonly keepalive: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly maxBuffered: number;

  constructor(
    private readonly view: Pick<PresenceView, "values" | "get" | "subscribe">,
    private readonly options: StatusStreamsOptions,
  ) {
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.unsubscribe = view.subscribe((change) => this.broadcast(change));
    this.keepalive = setInterval(() => {
      for (const stream of this.streams) this.write(stream, sseComment("keepalive"));
    }, options.keepaliveMs);
    this.keepalive.unref();
  }

  get size(): number {
    return this.streams.size;
  }

  /** Throws RATE_LIMITED when the user already holds the maximum number of streams. */
  checkCapacity(principal: Principal): void {
    let open = 0;
    for (const stream of this.streams) if (stream.principal.userId === principal.userId) open++;
    if (open >= this.options.perUserLimit) {
      throw new CodedError("RATE_LIMITED", `At most ${this.options.perUserLimit} status streams per user.`, { retryAfter: 5 });
    }
  }

  open(res: ServerResponse, principal: Principal, selection: HostSelection): void {
    this.checkCapacity(principal);
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    const untilExpiry = Math.max(0, principal.expiresAt - Date.now());
    const stream: Stream = {
      res,
      principal,
      selection,
      ids: selection.all ? null : new Set(selection.ids),
      expiry: setTimeout(() => this.end(stream, "expired", "the credential behind this stream expired"), Math.min(untilExpiry, 2 ** 31 - 1)),
    };
    this.streams.add(stream);
    this.options.onCountChange?.(this.streams.size);
    res.on("close", () => this.forget(stream));
    res.write(sseRetry(RECONNECT_HINT_MS));
    res.write(sseEvent("snapshot", { hosts: this.snapshot(selection) }));
  }

  /** Ends the streams of a user or a session (revocation). */
  closeFor(match: { userId?: string; sessionId?: string }): number {
    let closed = 0;
    for (const stream of [...this.streams]) {
      if ((match.userId && stream.principal.userId === match.userId) || (match.sessionId && stream.principal.sessionId === match.sessionId)) {
        this.end(stream, "revoked", "the credential behind this stream was revoked");
        closed++;
      }
    }
    return closed;
  }

  closeAll(reason: string): void {
    for (const stream of [...this.streams]) this.end(stream, "closing", reason);
    clearInterval(this.keepalive);
    this.unsubscribe();
  }

  private snapshot(selection: HostSelection): Record<string, HostStatus> {
    const hosts: Record<string, HostStatus> = {};
    if (selection.all) {
      for (const { record } of this.view.values()) hosts[record.hostId] = hostStatus(record.hostId, record);
    } else {
      for (const id of selection.ids) hosts[id] = hostStatus(id, this.view.get(id)?.record);
    }
    return hosts;
  }

  private broadcast(change: PresenceChange): void {
    if (this.streams.size === 0) return;
    const frame = change.record
      ? sseEvent("status", hostStatus(change.hostId, change.record), change.revision)
      : sseEvent("removed", { hostId: change.hostId }, change.revision);
    for (const stream of this.streams) {
      if (stream.ids && !stream.ids.has(change.hostId)) continue;
      this.write(stream, frame);
    }
  }

  private write(stream: Stream, chunk: string): void {
    if (stream.res.writableLength > this.maxBuffered) {
      this.options.logger.warn({ userId: stream.principal.userId }, "status stream client is not reading; closing");
      stream.res.destroy();
      this.forget(stream);
      return;
    }
    stream.res.write(chunk);
  }

  private end(stream: Stream, event: string, reason: string): void {
    if (!this.streams.has(stream)) return;
    stream.res.write(sseEvent(event, { reason }));
    stream.res.end();
    this.forget(stream);
  }

  private forget(stream: Stream): void {
    if (!this.streams.delete(stream)) return;
    clearTimeout(stream.expiry);
    this.options.onCountChange?.(this.streams.size);
  }
}
