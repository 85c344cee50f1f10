import {
  TerminalAuditEvent,
  type AuditListResponse,
  type SessionListResponse,
  type TerminalSessionSummary,
} from "@patchmon-ws/protocol";

export interface SessionFilter {
  userId?: string;
  hostId?: string;
  mode?: "direct" | "proxy";
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

export interface EventFilter {
  kind?: TerminalAuditEvent["kind"];
  userId?: string;
  hostId?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

interface IndexedEvent {
  seq: number;
  event: TerminalAuditEvent;
}

/** Cursors are opaque to clients: base64url of the position after which the next page starts. */
function encodeCursor(value: string): string {
  return Buffer.from(value, "utf8").toString("base64url");
}

function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    return Buffer.from(cursor, "base64url").toString("utf8");
  } catch {
    return undefined;
  }
}

/** Newest first: later start first, then the larger id (a stable order for sessions started in the same millisecond). */
function newerFirst(a: TerminalSessionSummary, b: TerminalSessionSummary): number {
  return b.startedAt - a.startedAt || (a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0);
}

/**
 * The admin queries over the audit trail, answered from memory: each replica feeds this index from the
 * TERMINAL_AUDIT stream (in stream order), keeping the newest `maxEvents` events and the sessions they describe.
 * Pure: the stream consumer is the adapter; tests feed events directly.
 */
export class AuditIndex {
  private readonly events: IndexedEvent[] = [];
  private readonly sessions = new Map<string, TerminalSessionSummary>();
  private sorted: TerminalSessionSummary[] | undefined;
  private lastSeq = 0;

  constructor(private readonly maxEvents: number) {}

  /** Applies one stored event (`seq`: its stream sequence). Events already applied are ignored. */
  apply(seq: number, raw: unknown): void {
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    const parsed = TerminalAuditEvent.safeParse(raw);
    if (!parsed.success) return;
    const event = parsed.data;
    this.events.push({ seq, event });
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    if (event.sessionId && (event.kind === "session_started" || event.kind === "session_ended")) this.applySession(event);
  }

  get size(): number {
    return this.events.length;
  }

  session(sessionId: string): TerminalSessionSummary | undefined {
    return this.sessions.get(sessionId);
  }

  listSessions(filter: SessionFilter): SessionListResponse {
    const sorted = (this.sorted ??= [...this.sessions.values()].sort(newerFirst));
    const after = decodeCursor(filter.cursor);
    const [afterStart, afterId] = after ? [Number(after.split(":")[0]), after.slice(after.indexOf(":") + 1)] : [Infinity, ""];
    const page: TerminalSessionSummary[] = [];
    for (const s of sorted) {
      if (after && (s.startedAt > afterStart || (s.startedAt === afterStart && s.sessionId >= afterId))) continue;
      if (filter.userId && s.userId !== filter.userId) continue;
      if (filter.hostId && s.hostId !== filter.hostId) continue;
      if (filter.mode && s.mode !== filter.mode) continue;
      if (filter.from !== undefined && s.startedAt < filter.from) continue;
      if (filter.to !== undefined && s.startedAt >= filter.to) continue;
      if (page.length === filter.limit) {
        const last = page[page.length - 1]!;
        return { sessions: page, nextCursor: encodeCursor(`${last.startedAt}:${last.sessionId}`) };
      }
      page.push(s);
    }
    return { sessions: page, nextCursor: null };
  }

  listEvents(filter: EventFilter): AuditListResponse {
    const before = Number(decodeCursor(filter.cursor) ?? Infinity);
    const page: TerminalAuditEvent[] = [];
    let lastSeq = 0;
    for (let i = this.events.length - 1; i >= 0; i--) {
      const { seq, event } = this.events[i]!;
      if (seq >= before) continue;
      if (filter.kind && event.kind !== filter.kind) continue;
      if (filter.userId && event.userId !== filter.userId) continue;
      if (filter.hostId && event.hostId !== filter.hostId) continue;
      if (filter.from !== undefined && event.at < filter.from) continue;
      if (filter.to !== undefined && event.at >= filter.to) continue;
      if (page.length === filter.limit) return { events: page, nextCursor: encodeCursor(String(lastSeq)) };
      page.push(event);
      lastSeq = seq;
    }
    return { events: page, nextCursor: null };
  }

  private applySession(event: TerminalAuditEvent): void {
    const id = event.sessionId!;
    const current = this.sessions.get(id);
    const base: TerminalSessionSummary = current ?? {
      sessionId: id,
      userId: event.userId ?? "",
      username: event.username ?? "",
      hostId: event.hostId ?? "",
      hostName: event.hostName ?? "",
      mode: event.mode ?? "direct",
      sshUser: event.sshUser ?? null,
      sourceAddress: event.sourceAddress,
      replica: event.replica ?? null,
      startedAt: event.startedAt ?? event.at,
      endedAt: null,
      durationMs: null,
      bytesIn: 0,
      bytesOut: 0,
      closeCode: null,
      reason: null,
      recorded: false,
    };
    const next: TerminalSessionSummary =
      event.kind === "session_ended"
        ? {
            ...base,
            endedAt: event.at,
            durationMs: event.durationMs ?? event.at - base.startedAt,
            bytesIn: event.bytesIn ?? base.bytesIn,
            bytesOut: event.bytesOut ?? base.bytesOut,
            closeCode: event.closeCode ?? null,
            reason: event.reason,
            recorded: event.recorded ?? base.recorded,
          }
        : { ...base, recorded: event.recorded ?? base.recorded };
    this.sessions.set(id, next);
    this.sorted = undefined;
    // Insertion order is start order (starts are stored as they happen): the first keys are the oldest sessions.
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.maxEvents) break;
      this.sessions.delete(oldest);
    }
  }
}
