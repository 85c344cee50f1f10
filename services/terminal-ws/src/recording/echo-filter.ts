/**
 * Decides which input a recording may keep: only what the PTY echoed. Typed text is held until the same text shows
 * up in the output that follows (the terminal echoing it); text that is not echoed within the window (a password at
 * a `sudo` or `passwd` prompt, typed blind) is never recorded. Keys without visible text (Enter, Ctrl-C, arrows)
 * reveal nothing and are kept, in order behind the text typed before them.
 *
 * Pure: the caller feeds input and output with their times and writes the events it gets back.
 */

/**
 * CSI, OSC, SS3 (ESC O x: arrows in application mode, F1-F4), escape sequences with intermediates (ESC ( B),
 * two-character escapes (ESC =, ESC 7, Alt+key), then every remaining control character.
 */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bO[ -~]|\x1b[ -/]*[0-~]|\x1b[ -~]|[\x00-\x1f\x7f]/g;
/** An escape sequence cut off at the end of a chunk: held back and completed by the next chunk. */
const UNFINISHED_ESCAPE = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|O|[ -/]*)?$/;

/** The visible text of terminal input or output: what a person would read, without control sequences. */
export function visibleText(text: string): string {
  return text.replace(ESCAPES, "");
}

export interface EchoFilterOptions {
  /** How long typed text may wait for its echo. */
  windowMs: number;
  /** Most input entries held at once (older ones are dropped unrecorded). */
  maxPending?: number;
  /** Most output text kept for matching (visible characters). */
  maxOutputTail?: number;
}

interface PendingInput {
  at: number;
  data: string;
  visible: string;
  /** Where the output tail stood when it was typed: only output after that can be its echo. */
  from: number;
}

export interface ConfirmedInput {
  at: number;
  data: string;
}

/**
 * Holds typed input until it is echoed. `input` queues; `output` returns the inputs its text confirmed (call it
 * before recording that output, so an input precedes its echo); `expire` drops text that waited too long.
 */
export class EchoFilter {
  private readonly pending: PendingInput[] = [];
  /** Visible output seen since the oldest pending input, and how far matching has consumed it. */
  private tail = "";
  private cursor = 0;
  /** The start of an escape sequence the last output chunk ended in. */
  private carry = "";
  /** Characters of input never recorded because they were not echoed. */
  hiddenChars = 0;
  private readonly maxPending: number;
  private readonly maxTail: number;

  constructor(private readonly options: EchoFilterOptions) {
    this.maxPending = options.maxPending ?? 256;
    this.maxTail = options.maxOutputTail ?? 8192;
  }

  /** Typed input at `at`; returns what may be recorded right away (keys without visible text, nothing pending before them). */
  input(data: string, at: number): ConfirmedInput[] {
    const visible = visibleText(data);
    if (visible === "" && this.pending.length === 0) return [{ at, data }];
    this.pending.push({ at, data, visible, from: this.tail.length });
    if (this.pending.length > this.maxPending) this.drop(this.pending.shift()!);
    return this.settle(at);
  }

  /** Output at `at`; returns the inputs it confirmed, in order. */
  output(text: string, at: number): ConfirmedInput[] {
    const whole = this.carry + text;
    const unfinished = UNFINISHED_ESCAPE.exec(whole);
    this.carry = unfinished ? unfinished[0] : "";
    if (this.pending.length === 0) return [];
    // What waited past the window goes first: an echo arriving only now does not count for it.
    const confirmed = this.settle(at);
    if (this.pending.length === 0) return confirmed;
    this.tail += visibleText(unfinished ? whole.slice(0, unfinished.index) : whole);
    if (this.tail.length > this.maxTail) {
      const cut = this.tail.length - this.maxTail;
      this.tail = this.tail.slice(cut);
      this.cursor = Math.max(0, this.cursor - cut);
      for (const entry of this.pending) entry.from = Math.max(0, entry.from - cut);
    }
    return [...confirmed, ...this.settle(at)];
  }

  /** Drops what waited longer than the window; returns inputs that were only waiting behind them. */
  expire(now: number): ConfirmedInput[] {
    return this.settle(now);
  }

  /** Everything still pending is dropped (the session ended). */
  finish(): void {
    for (const entry of this.pending) if (entry.visible !== "") this.drop(entry);
    this.pending.length = 0;
    this.reset();
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private settle(now: number): ConfirmedInput[] {
    const confirmed: ConfirmedInput[] = [];
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      if (head.visible === "") {
        confirmed.push({ at: head.at, data: head.data });
        this.pending.shift();
        continue;
      }
      const found = this.tail.indexOf(head.visible, Math.max(this.cursor, head.from));
      if (found !== -1) {
        this.cursor = found + head.visible.length;
        confirmed.push({ at: head.at, data: head.data });
        this.pending.shift();
        continue;
      }
      if (now - head.at >= this.options.windowMs) {
        this.drop(head);
        this.pending.shift();
        continue;
      }
      break;
    }
    if (this.pending.length === 0) this.reset();
    return confirmed;
  }

  private drop(entry: PendingInput): void {
    this.hiddenChars += entry.visible.length;
  }

  private reset(): void {
    this.tail = "";
    this.cursor = 0;
  }
}
