import type { JetStreamClient } from "@nats-io/jetstream";
import { TerminalStreams } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import type { AuditIndex } from "./audit-index.js";

export interface AuditFeed {
  /** Resolves once the events stored before start-up are in the index (or after a bound, whichever first). */
  readonly loaded: Promise<void>;
  readonly ready: boolean;
  stop(): void;
}

/** Longest wait for the stored events at start-up; the feed keeps applying them afterwards. */
const LOAD_TIMEOUT_MS = 15_000;

/**
 * Feeds an AuditIndex from the TERMINAL_AUDIT stream with an ordered consumer (no durable state on the server; it
 * re-creates itself after NATS outages and resumes after the last sequence it delivered).
 */
export async function feedAuditIndex(js: JetStreamClient, index: AuditIndex, logger: Logger): Promise<AuditFeed> {
  const consumer = await js.consumers.get(TerminalStreams.audit.name, { filter_subjects: TerminalStreams.audit.subjects });
  const info = await consumer.info(true).catch(() => undefined);
  let ready = (info?.num_pending ?? 0) === 0;
  let markLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  if (ready) markLoaded();
  const messages = await consumer.consume({ max_messages: 1024 });
  void (async () => {
    for await (const msg of messages) {
      try {
        index.apply(msg.seq, msg.json());
      } catch {
        // not JSON: nothing to index
      }
      if (!ready && msg.info.pending === 0) {
        ready = true;
        markLoaded();
      }
    }
  })().catch((err: unknown) => logger.error({ err: (err as Error)?.message }, "audit feed ended"));
  const fallback = setTimeout(() => {
    if (ready) return;
    logger.warn({ loaded: index.size }, "audit index not fully loaded in time; continuing");
    ready = true;
    markLoaded();
  }, LOAD_TIMEOUT_MS);
  fallback.unref();
  return {
    loaded,
    get ready() {
      return ready;
    },
    stop() {
      clearTimeout(fallback);
      void messages.close().catch(() => undefined);
    },
  };
}
