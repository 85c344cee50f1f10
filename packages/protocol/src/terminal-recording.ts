/**
 * Terminal recordings: asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), the format `asciinema play`
 * and asciinema-player read. One schema for live and recorded sessions: each event is what a live terminal message
 * carried, so a recording replays exactly what the browser was sent.
 *
 *   header   {"version": 2, "width": cols, "height": rows, "timestamp": epoch seconds, "title": …, "env": {"TERM": …}}
 *   events   [seconds since start, code, data], one JSON array per line:
 *            "o" output   ← server→client `data`
 *            "i" input    ← client→server `input`, only as far as the PTY echoed it (never credentials)
 *            "r" resize   ← client→server `resize`, data "COLSxROWS"
 *            "m" marker   ← session notes (connected, warnings, the end and why)
 *
 * Browser-safe: zod only, no Node built-ins.
 */
import { z } from "zod";

export const ASCIICAST_VERSION = 2;
export const ASCIICAST_MEDIA_TYPE = "application/x-asciicast";

export const AsciicastHeader = z.looseObject({
  version: z.literal(ASCIICAST_VERSION),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Unix time (seconds) the recording started. */
  timestamp: z.number().int().optional(),
  title: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  idle_time_limit: z.number().optional(),
});
export type AsciicastHeader = z.infer<typeof AsciicastHeader>;

export const ASCIICAST_EVENT_CODES = ["o", "i", "r", "m"] as const;
export type AsciicastEventCode = (typeof ASCIICAST_EVENT_CODES)[number];

/** [seconds since the start, code, data] */
export const AsciicastEvent = z.tuple([z.number().nonnegative(), z.enum(ASCIICAST_EVENT_CODES), z.string()]);
export type AsciicastEvent = z.infer<typeof AsciicastEvent>;

/** Seconds with microsecond precision, as asciinema writes them. */
export function asciicastTime(elapsedMs: number): number {
  return Math.round(Math.max(0, elapsedMs) * 1000) / 1_000_000;
}

/** One line of the file (newline included). */
export function encodeAsciicastHeader(header: AsciicastHeader): string {
  return `${JSON.stringify(header)}\n`;
}

/** One event line (newline included). */
export function encodeAsciicastEvent(elapsedMs: number, code: AsciicastEventCode, data: string): string {
  return `${JSON.stringify([asciicastTime(elapsedMs), code, data])}\n`;
}

/** The data of a resize event. */
export function resizeEventData(cols: number, rows: number): string {
  return `${cols}x${rows}`;
}

export function parseResizeEventData(data: string): { cols: number; rows: number } | undefined {
  const match = /^(\d+)x(\d+)$/.exec(data);
  return match ? { cols: Number(match[1]), rows: Number(match[2]) } : undefined;
}

export interface ParsedAsciicast {
  header: AsciicastHeader;
  events: AsciicastEvent[];
}

/**
 * Parses a whole recording; throws naming the first bad line. Strict: a header, then events in non-decreasing time
 * (what players require), blank lines allowed only at the end.
 */
export function parseAsciicast(text: string): ParsedAsciicast {
  const lines = text.split("\n");
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const first = lines[0];
  if (first === undefined) throw new Error("empty recording");
  const header = AsciicastHeader.safeParse(safeJson(first));
  if (!header.success) throw new Error(`line 1: not an asciicast v2 header (${header.error.issues[0]?.message ?? "invalid"})`);
  const events: AsciicastEvent[] = [];
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const event = AsciicastEvent.safeParse(safeJson(lines[i]!));
    if (!event.success) throw new Error(`line ${i + 1}: not an asciicast v2 event`);
    if (event.data[0] < last) throw new Error(`line ${i + 1}: time goes backwards (${event.data[0]} < ${last})`);
    last = event.data[0];
    events.push(event.data);
  }
  return { header: header.data, events };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
