import type { ServerResponse } from "node:http";
import { CodedError, type Principal } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import { hostStatus, type HostSelection, type HostStatus } from "./host-selection.js";
import type { ChangesSince } from "../presence/presence-history.js";
import type { PresenceChange } from "../presence/presence-record.js";
import type { PresenceView } from "../presence/presence-view.js";
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
  /** Every change up to this revision was sent (in the snapshot or the resume): later live changes only. */
  sent: number;
  /** Live changes that arrived while the snapshot or resume was being written; sent after it. */
  held: PresenceChange[] | null;
}

/** What a status stream needs of the presence view: the bucket as its watch delivers it, in revision order. */
export type StatusSource = Pick<PresenceView, "follow" | "confirmed" | "confirmedValues" | "changesSince" | "revision">;

/** Longest Last-Event-ID / lastEventId accepted (digits). */
const MAX_EVENT_ID_DIGITS = 16;

/**
 * The revision a client resumes from: the `lastEventId` query parameter, else the `Last-Event-ID` header (what
 * EventSource sends when it reconnects by itself); undefined when neither is given (an empty value counts as none,
 * as an empty SSE id resets it). Throws VALIDATION_FAILED unless it is a non-negative integer.
 */
export function parseLastEventId(query: unknown, header: unknown): number | undefined {
  const given = (value: unknown) => value !== undefined && value !== "";
  const [value, name] = given(query) ? [query, "lastEventId"] : given(header) ? [header, "Last-Event-ID"] : [undefined, ""];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length > MAX_EVENT_ID_DIGITS || !/^[0-9]+$/.test(value)) {
    throw new CodedError("VALIDATION_FAILED", `${name} must be a non-negative integer (the id of the last event received)`);
  }
  return Number(value);
}

/** How long an EventSource waits before reconnecting after the stream ends. */
const RECONNECT_HINT_MS = 3000;

/**
 * Live status for the UI over Server-Sent Events: one stream covers many hosts (or all), starts with a snapshot
 * and then carries every presence change, cluster-wide (the presence view watches the KV bucket), so the UI never
 * polls per host. A stream ends when its credential expires or is revoked, or the replica drains; EventSource
 * then reconnects with a fresh ticket.
 *
 * Every event's `id:` is a presence revision (the same on every replica) from which the client can resume: a
 * client reconnecting with it (`Last-Event-ID` or `?lastEventId=`) gets `resumed` and only the changes it missed
 * when the view can prove them (`changesSince`), else a fresh snapshot.
 */
export class StatusStreams {
  private readonly streams = new Set<Stream>();
  private readonly keepalive: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly maxBuffered: number;

  constructor(
    private readonly view: StatusSource,
    private readonly options: StatusStreamsOptions,
  ) {
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.unsubscribe = view.follow((change) => this.broadcast(change));
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

  /**
   * Opens a stream: a snapshot, or — given the revision the client last saw (`since`) and when the view can prove
   * what changed after it — `resumed` and those changes; then every change as it comes.
   */
  open(res: ServerResponse, principal: Principal, selection: HostSelection, since?: number): void {
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
      sent: 0,
      held: [],
    };
    // Live changes are followed from here on; they wait in `held` until the snapshot or resume is out.
    this.streams.add(stream);
    this.options.onCountChange?.(this.streams.size);
    res.on("close", () => this.forget(stream));
    try {
      res.write(sseRetry(RECONNECT_HINT_MS));
      const resume = since === undefined ? null : this.view.changesSince(since, selection.all ? null : selection.ids);
      if (resume) this.writeResume(stream, resume);
      else this.writeSnapshot(stream);
    } finally {
      const held = stream.held ?? [];
      stream.held = null;
      for (const change of held) this.send(stream, change);
    }
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

  /** The state of the selected hosts as of `view.revision`, which is its id: a client that saw it resumes from there. */
  private writeSnapshot(stream: Stream): void {
    const revision = this.view.revision;
    const hosts: Record<string, HostStatus> = {};
    if (stream.selection.all) {
      for (const { record } of this.view.confirmedValues()) hosts[record.hostId] = hostStatus(record.hostId, record);
    } else {
      for (const id of stream.selection.ids) hosts[id] = hostStatus(id, this.view.confirmed(id)?.record);
    }
    stream.res.write(sseEvent("snapshot", { hosts }, revision));
    stream.sent = revision;
  }

  /**
   * `resumed`, then the missed changes in revision order. Its id stays `fromRevision` while changes follow (each
   * moves the client's position on, so a stream cut in the middle resumes where it was cut), else `toRevision`.
   */
  private writeResume(stream: Stream, { fromRevision, toRevision, changes }: ChangesSince): void {
    const id = changes.length > 0 ? fromRevision : toRevision;
    const frames = [sseEvent("resumed", { fromRevision, toRevision }, id)];
    for (const change of changes) frames.push(frame(change));
    stream.res.write(frames.join(""));
    stream.sent = toRevision;
  }

  private broadcast(change: PresenceChange): void {
    let rendered: string | undefined;
    for (const stream of this.streams) {
      if (stream.ids && !stream.ids.has(change.hostId)) continue;
      if (stream.held) stream.held.push(change);
      else this.send(stream, change, (rendered ??= frame(change)));
    }
  }

  /** A live change, unless the snapshot or resume already covered it. */
  private send(stream: Stream, change: PresenceChange, rendered = frame(change)): void {
    if (change.revision <= stream.sent || !this.streams.has(stream)) return;
    stream.sent = change.revision;
    this.write(stream, rendered);
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

function frame(change: PresenceChange): string {
  return change.record
    ? sseEvent("status", hostStatus(change.hostId, change.record), change.revision)
    : sseEvent("removed", { hostId: change.hostId }, change.revision);
}
