/**
 * Terminal output as text frames: bytes from one SSH stream are decoded with a StringDecoder (a character split
 * across two reads waits for its rest; invalid bytes become U+FFFD) and cut into pieces of at most `maxBytes` bytes
 * of UTF-8, never inside a character (nor between the two halves of a surrogate pair). Pure.
 */
import { StringDecoder } from "node:string_decoder";

/** The stock agent reads 4096 bytes at a time: no ssh_proxy_data carries more. */
export const SSH_PROXY_DATA_MAX_BYTES = 4096;

/** UTF-8 length of the code unit(s) at `index`, and how many UTF-16 units that character takes. */
function charAt(text: string, index: number): [bytes: number, units: number] {
  const code = text.charCodeAt(index);
  if (code < 0x80) return [1, 1];
  if (code < 0x800) return [2, 1];
  if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return [4, 2];
  }
  // Other BMP characters, and lone surrogates (which Buffer.from encodes as the 3-byte U+FFFD).
  return [3, 1];
}

/** Splits `text` into pieces of at most maxBytes bytes of UTF-8 each, on character boundaries. */
export function splitUtf8(text: string, maxBytes = SSH_PROXY_DATA_MAX_BYTES): string[] {
  if (maxBytes < 4) throw new RangeError("maxBytes must be at least 4 (one UTF-8 character)");
  if (text.length === 0) return [];
  // Fast path: no UTF-16 unit is more than 3 bytes of UTF-8.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, "utf8") <= maxBytes) return [text];
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let index = 0; index < text.length; ) {
    const [size, units] = charAt(text, index);
    if (bytes + size > maxBytes) {
      pieces.push(text.slice(start, index));
      start = index;
      bytes = 0;
    }
    bytes += size;
    index += units;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/** One output stream's decoder: bytes in, whole-character pieces of at most maxBytes out. */
export class Utf8Chunker {
  private readonly decoder = new StringDecoder("utf8");

  constructor(private readonly maxBytes = SSH_PROXY_DATA_MAX_BYTES) {}

  write(chunk: Buffer): string[] {
    return splitUtf8(this.decoder.write(chunk), this.maxBytes);
  }

  /** The end of the stream: an incomplete trailing character comes out as U+FFFD. */
  end(): string[] {
    return splitUtf8(this.decoder.end(), this.maxBytes);
  }
}
