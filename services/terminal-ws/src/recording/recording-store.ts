import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { TerminalStreams, TerminalSubjects } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";
import type { RecordingSink } from "./session-recorder.js";

export interface RecordingRetention {
  maxAgeMs: number;
  maxBytes: number;
}

/** Retention trims whole recordings once the stream holds more than this share of its byte limit. */
const TRIM_AT = 0.9;
const TRIM_TO = 0.8;
/** How long one fetch of a recording waits for messages before the read takes it as the end. */
const READ_FETCH_EXPIRES_MS = 2000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Recordings in JetStream: the TERMINAL_RECORDINGS stream, one subject per session, each message a batch of complete
 * asciicast lines (the first one the header). Stored as the session goes, so a replica that dies loses at most the
 * last batch. Retention by age is the stream's own max age; by size, the oldest recordings are purged whole before
 * the stream's byte limit would start cutting the oldest messages.
 */
export class RecordingStore {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly retention: RecordingRetention,
    private readonly logger: Logger,
  ) {}

  /** Where one session's recording is written. */
  sink(sessionId: string): RecordingSink {
    const subject = TerminalSubjects.recording(sessionId);
    return {
      write: async (batch) => {
        await this.js.publish(subject, encoder.encode(batch));
      },
    };
  }

  /** Whether anything of a session's recording is stored. */
  async exists(sessionId: string): Promise<boolean> {
    const last = await this.jsm.streams.getMessage(TerminalStreams.recordings.name, { last_by_subj: TerminalSubjects.recording(sessionId) });
    return last !== null;
  }

  /**
   * The stored batches of a session's recording, in order, read by an ordered consumer (no state left on the server).
   * Ends after the last batch stored when the read began, or when a fetch finds nothing more (the recording was
   * purged while it was read).
   */
  async *read(sessionId: string): AsyncGenerator<string> {
    const subject = TerminalSubjects.recording(sessionId);
    const last = await this.jsm.streams.getMessage(TerminalStreams.recordings.name, { last_by_subj: subject });
    if (!last) return;
    const consumer = await this.js.consumers.get(TerminalStreams.recordings.name, { filter_subjects: subject });
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 64, expires: READ_FETCH_EXPIRES_MS });
      let got = 0;
      for await (const msg of batch) {
        got++;
        yield decoder.decode(msg.data);
        if (msg.seq >= last.seq || msg.info.pending === 0) return;
      }
      if (got === 0) return;
    }
  }

  /** Trims the oldest whole recordings until the stream is back under its share of the byte limit. Returns how many. */
  async enforceRetention(): Promise<number> {
    const stream = TerminalStreams.recordings.name;
    let purged = 0;
    for (let round = 0; round < 1000; round++) {
      const info = await this.jsm.streams.info(stream);
      const limit = round === 0 ? TRIM_AT : TRIM_TO;
      if (info.state.bytes <= this.retention.maxBytes * limit || info.state.messages === 0) break;
      const oldest = await this.jsm.streams.getMessage(stream, { seq: info.state.first_seq });
      if (!oldest) break;
      await this.jsm.streams.purge(stream, { filter: oldest.subject });
      purged++;
      this.logger.info({ subject: oldest.subject, bytes: info.state.bytes, maxBytes: this.retention.maxBytes }, "recording purged (total size limit)");
    }
    return purged;
  }

  /** Runs enforceRetention every `intervalMs`. */
  startRetention(intervalMs: number): void {
    this.timer ??= setInterval(() => {
      this.enforceRetention().catch((err: unknown) => this.logger.warn({ err: (err as Error)?.message }, "recording retention failed"));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
