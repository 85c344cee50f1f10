import { describe, expect, it } from "vitest";
import { SSH_PROXY_DATA_MAX_BYTES, splitUtf8, Utf8Chunker } from "@patchmon-ws/protocol";

const bytes = (text: string) => Buffer.byteLength(text, "utf8");

/** Bytes of a piece inside a JSON string (without the quotes). */
const jsonBytes = (text: string) => bytes(JSON.stringify(text)) - 2;

function expectPieces(pieces: string[], original: string, max: number, size = bytes) {
  expect(pieces.join("")).toBe(original);
  for (const piece of pieces) {
    expect(size(piece)).toBeLessThanOrEqual(max);
    expect(piece.length).toBeGreaterThan(0);
    // No piece starts with a low surrogate or ends with a high one.
    expect(piece.charCodeAt(0) >= 0xdc00 && piece.charCodeAt(0) <= 0xdfff).toBe(false);
    const last = piece.charCodeAt(piece.length - 1);
    expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
  }
}

describe("splitUtf8", () => {
  it("keeps text up to 4096 bytes whole and cuts longer ASCII into 4096-byte pieces", () => {
    expect(SSH_PROXY_DATA_MAX_BYTES).toBe(4096);
    expect(splitUtf8("")).toEqual([]);
    expect(splitUtf8("a".repeat(4096))).toEqual(["a".repeat(4096)]);
    const pieces = splitUtf8("a".repeat(10_000));
    expect(pieces.map((p) => p.length)).toEqual([4096, 4096, 1808]);
  });

  it("never cuts inside a 2-, 3- or 4-byte character", () => {
    for (const char of ["é", "€", "😀"]) {
      for (const lead of [0, 1, 2, 3]) {
        const text = "x".repeat(lead) + char.repeat(3000);
        const pieces = splitUtf8(text);
        expectPieces(pieces, text, 4096);
        // Every piece but the last is as full as a whole number of characters allows.
        for (const piece of pieces.slice(0, -1)) expect(bytes(piece)).toBeGreaterThan(4096 - bytes(char));
      }
    }
  });

  it("handles small limits, mixed text and lone surrogates", () => {
    const text = "aé€😀".repeat(50) + "\ud800" + "z";
    expectPieces(splitUtf8(text, 7), text, 7);
    expect(splitUtf8("😀😀", 4)).toEqual(["😀", "😀"]);
    expect(() => splitUtf8("x", 3)).toThrow(RangeError);
  });
});

describe("splitUtf8 counting bytes inside a JSON string", () => {
  it("counts escapes: quotes and backslashes 2 bytes, control characters 2 or 6, lone surrogates 6", () => {
    const text = '"\\\n\u0001'.repeat(1000) + "\ud800" + "é€😀".repeat(1000);
    const pieces = splitUtf8(text, 1000, "json");
    expectPieces(pieces, text, 1000, jsonBytes);
    for (const piece of pieces.slice(0, -1)) expect(jsonBytes(piece)).toBeGreaterThan(1000 - 6);
    expect(splitUtf8("\u0001\u0001", 6, "json")).toEqual(["\u0001", "\u0001"]);
    expect(() => splitUtf8("x", 5, "json")).toThrow(RangeError);
  });

  it("keeps short text whole", () => {
    expect(splitUtf8("a\"b", 100, "json")).toEqual(['a"b']);
    expect(splitUtf8("", 100, "json")).toEqual([]);
  });
});

describe("Utf8Chunker", () => {
  it("holds a character split across reads until its last byte arrives", () => {
    const chunker = new Utf8Chunker();
    const euro = Buffer.from("€", "utf8");
    expect(chunker.write(Buffer.concat([Buffer.from("ab"), euro.subarray(0, 1)]))).toEqual(["ab"]);
    expect(chunker.write(euro.subarray(1, 2))).toEqual([]);
    expect(chunker.write(Buffer.concat([euro.subarray(2), Buffer.from("c")]))).toEqual(["€c"]);
    expect(chunker.end()).toEqual([]);
  });

  it("replaces invalid bytes and a truncated final character with U+FFFD", () => {
    const chunker = new Utf8Chunker();
    expect(chunker.write(Buffer.from([0x61, 0xff, 0x62]))).toEqual(["a\ufffdb"]);
    expect(chunker.write(Buffer.from([0xe2, 0x82]))).toEqual([]);
    expect(chunker.end()).toEqual(["\ufffd"]);
  });

  it("keeps a byte-order mark as a character", () => {
    const chunker = new Utf8Chunker();
    expect(chunker.write(Buffer.from("\ufeffhi", "utf8"))).toEqual(["\ufeffhi"]);
  });

  it("cuts a large read of multi-byte text into whole-character pieces", () => {
    const chunker = new Utf8Chunker(4096);
    const data = Buffer.from("😀".repeat(5000), "utf8");
    const pieces = [...chunker.write(data.subarray(0, 10_001)), ...chunker.write(data.subarray(10_001)), ...chunker.end()];
    expectPieces(pieces, "😀".repeat(5000), 4096);
  });
});
