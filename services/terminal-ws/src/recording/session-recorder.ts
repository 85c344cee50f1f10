import {
  encodeAsciicastEvent,
  encodeAsciicastHeader,
  resizeEventData,
  type AsciicastEventCode,
  type AsciicastHeader,
} from "@patchmon-ws/protocol";
import { EchoFilter, type ConfirmedInput } from "./echo-filter.js";

/** Where a recording's lines go, in order (a JetStream subject in production). */
export interface RecordingSink {
  /** One batch of complete asciicast lines; resolves once stored. */
  write(batch: string): Promise<void>;
}

export interface SessionRecorderOptions {
  /** A batch is written once it holds this many characters… */
  flushChars?: number;
  /** …or this long after its first line. */
  flushMs?: number;
  /** Characters written but not yet stored above which the recorder asks the session to pause output. */
  highWaterChars?: number;
  /** How long typed text may wait for its echo before it is left out. */
  echoWindowMs?: number;
  now?: () => number;
  /** true: pause the session's output (the store is behind); false: resume. Called on changes only. */
  onPressure?: (pressed: boolean) => void;
  /** A batch could not be stored: the recording has a hole from here on (the session goes on). */
  onError?: (err: unknown) => void;
}

const DEFAULTS = { flushChars: 32 * 1024, flushMs: 200, highWaterChars: 1024 * 1024, echoWindowMs: 1000 };

/**
 * Records one terminal session as asciicast v2, from the same messages the browser exchanges: output ("o"), input
 * ("i", only as echoed: EchoFilter), resizes ("r") and markers ("m"). Lines are batched and written in order; when
 * the store falls behind, `onPressure(true)` makes the session pause its output, so a flood of output never piles up
 * in memory here. Times never go backwards (an input confirmed by its echo is stamped no earlier than the last event).
 */
export class SessionRecorder {
  private readonly options: Required<Omit<SessionRecorderOptions, "onPressure" | "onError" | "now">> & SessionRecorderOptions;
  private readonly now: () => number;
  private readonly echo: EchoFilter;
  private readonly startedAt: number;
  private lastEventMs = 0;
  private batch: string;
  private flushTimer: NodeJS.Timeout | undefined;
  private expireTimer: NodeJS.Timeout | undefined;
  private unstored = 0;
  private pressed = false;
  private chain: Promise<void> = Promise.resolve();
  private finished = false;
  /** Characters recorded, and whether any batch failed. */
  recordedChars = 0;
  damaged = false;

  constructor(
    header: AsciicastHeader,
    private readonly sink: RecordingSink,
    options: SessionRecorderOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.echo = new EchoFilter({ windowMs: this.options.echoWindowMs });
    this.batch = encodeAsciicastHeader(header);
    this.scheduleFlush();
  }

  output(text: string): void {
    if (this.finished) return;
    const at = this.now();
    this.inputs(this.echo.output(text, at));
    this.event(at, "o", text);
  }

  input(data: string): void {
    if (this.finished) return;
    this.inputs(this.echo.input(data, this.now()));
    if (this.echo.pendingCount > 0) this.scheduleExpiry();
  }

  resize(cols: number, rows: number): void {
    if (this.finished) return;
    this.event(this.now(), "r", resizeEventData(cols, rows));
  }

  marker(text: string): void {
    if (this.finished) return;
    this.event(this.now(), "m", text);
  }

  get isPressed(): boolean {
    return this.pressed;
  }

  /** Input typed but never echoed (left out of the recording). */
  get hiddenInputChars(): number {
    return this.echo.hiddenChars;
  }

  /** Writes the last lines (a final marker first) and resolves once everything is stored. */
  async finish(marker?: string): Promise<void> {
    if (this.finished) return this.chain;
    if (marker !== undefined) this.marker(marker);
    this.finished = true;
    this.echo.finish();
    clearTimeout(this.expireTimer);
    this.flush();
    return this.chain;
  }

  private inputs(confirmed: ConfirmedInput[]): void {
    for (const input of confirmed) this.event(input.at, "i", input.data);
  }

  private event(at: number, code: AsciicastEventCode, data: string): void {
    const elapsed = Math.max(at - this.startedAt, this.lastEventMs);
    this.lastEventMs = elapsed;
    this.batch += encodeAsciicastEvent(elapsed, code, data);
    if (this.batch.length >= this.options.flushChars) this.flush();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.finished) return;
    this.flushTimer = setTimeout(() => this.flush(), this.options.flushMs);
    this.flushTimer.unref();
  }

  private scheduleExpiry(): void {
    if (this.expireTimer) return;
    this.expireTimer = setTimeout(() => {
      this.expireTimer = undefined;
      if (this.finished) return;
      this.inputs(this.echo.expire(this.now()));
      if (this.echo.pendingCount > 0) this.scheduleExpiry();
    }, this.options.echoWindowMs);
    this.expireTimer.unref();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = "";
    this.unstored += batch.length;
    this.recordedChars += batch.length;
    this.updatePressure();
    this.chain = this.chain.then(() =>
      this.sink.write(batch).then(
        () => undefined,
        (err: unknown) => {
          this.damaged = true;
          this.options.onError?.(err);
        },
      ).finally(() => {
        this.unstored -= batch.length;
        this.updatePressure();
      }),
    );
  }

  private updatePressure(): void {
    const pressed = this.pressed ? this.unstored > this.options.highWaterChars / 2 : this.unstored > this.options.highWaterChars;
    if (pressed === this.pressed) return;
    this.pressed = pressed;
    this.options.onPressure?.(pressed);
  }
}
