/**
 * Text cut to fit frames measured in bytes: pieces of at most `maxBytes` bytes each, never cut inside a character
 * (nor between the two halves of a surrogate pair), so every piece is valid text and the pieces rejoin to the whole.
 * Two ways of counting a character: its UTF-8 bytes (`utf8`: terminal output in `ssh_proxy_data`), or its UTF-8
 * bytes inside a JSON string, escapes included (`json`: input in an `ssh_proxy_input` frame, whose whole encoded frame
 * must fit an agent's read limit). Browser-safe: no Node API.
 */

/** The stock agent reads 4096 bytes at a time: no ssh_proxy_data carries more. */
export const SSH_PROXY_DATA_MAX_BYTES = 4096;

/** How a character's size is counted. */
export type ByteCount = "utf8" | "json";

/** The most bytes one character can take, per count: a pair of surrogates is 4 bytes; an escape such as \u0001 is 6. */
const WIDEST_CHARACTER: Record<ByteCount, number> = { utf8: 4, json: 6 };
/** The most bytes one UTF-16 unit can take (a pair takes 4 for its 2 units). */
const WIDEST_UNIT: Record<ByteCount, number> = { utf8: 3, json: 6 };

/** Bytes of a character other than a surrogate pair, as UTF-8 inside a JSON string. */
function jsonBytes(code: number): number {
  if (code === 0x22 || code === 0x5c) return 2; // \" \\
  if (code < 0x20) return code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6;
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  // A lone surrogate: JSON.stringify escapes it (\udXXX).
  if (code >= 0xd800 && code <= 0xdfff) return 6;
  return 3;
}

/** Bytes of a character other than a surrogate pair, as UTF-8 (a lone surrogate is encoded as the 3-byte U+FFFD). */
function utf8Bytes(code: number): number {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  return 3;
}

function isPair(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  if (code < 0xd800 || code > 0xdbff || index + 1 >= text.length) return false;
  const next = text.charCodeAt(index + 1);
  return next >= 0xdc00 && next <= 0xdfff;
}

/** Splits `text` into pieces of at most maxBytes bytes each (counted as `count` says), on character boundaries. */
export function splitUtf8(text: string, maxBytes = SSH_PROXY_DATA_MAX_BYTES, count: ByteCount = "utf8"): string[] {
  if (maxBytes < WIDEST_CHARACTER[count]) throw new RangeError(`maxBytes must be at least ${WIDEST_CHARACTER[count]} (one character)`);
  if (text.length === 0) return [];
  if (text.length * WIDEST_UNIT[count] <= maxBytes) return [text];
  const bytesOf = count === "json" ? jsonBytes : utf8Bytes;
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let index = 0; index < text.length; ) {
    const pair = isPair(text, index);
    const size = pair ? 4 : bytesOf(text.charCodeAt(index));
    if (bytes + size > maxBytes) {
      pieces.push(text.slice(start, index));
      start = index;
      bytes = 0;
    }
    bytes += size;
    index += pair ? 2 : 1;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/**
 * One output stream's decoder: bytes in, whole-character pieces of at most maxBytes bytes of UTF-8 out. A character
 * split across two reads waits for its rest; invalid bytes become U+FFFD.
 */
export class Utf8Chunker {
  // ignoreBOM: a byte-order mark in the stream is output like any character, not swallowed.
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(private readonly maxBytes = SSH_PROXY_DATA_MAX_BYTES) {}

  write(chunk: Uint8Array): string[] {
    return splitUtf8(this.decoder.decode(chunk, { stream: true }), this.maxBytes);
  }

  /** The end of the stream: an incomplete trailing character comes out as U+FFFD. */
  end(): string[] {
    return splitUtf8(this.decoder.decode(), this.maxBytes);
  }
}
