/**
 * Recordings in JetStream against a real nats-server: a SessionRecorder writes asciicast batches through
 * RecordingStore.sink(), read() gives them back in order (also for recordings of several MB, and while more is being
 * written), exists() tells stored from unknown, and enforceRetention() trims whole oldest recordings under the
 * stream's byte limit.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAsciicast, TerminalStreams, TerminalSubjects, type AsciicastHeader } from "@patchmon-ws/protocol";
import { createLogger } from "@patchmon-ws/service-kit";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { openTerminalStorage, type TerminalStorage, type TerminalStorageOptions } from "../src/jetstream-setup.js";
import { RecordingStore } from "../src/recording/recording-store.js";
import { SessionRecorder, type SessionRecorderOptions } from "../src/recording/session-recorder.js";

const logger = createLogger("terminal-ws-test", "silent");
const DAY = 24 * 60 * 60 * 1000;
const storageOptions = (over: Partial<TerminalStorageOptions> = {}): TerminalStorageOptions => ({
  replicas: 1,
  auditMaxAgeMs: 30 * DAY,
  recordingMaxAgeMs: 7 * DAY,
  recordingMaxBytes: 512 * 1024 * 1024,
  sessionEntryTtlMs: 60_000,
  ...over,
});

let counter = 0;
const sessionId = () => `rec-${process.pid}-${++counter}`;
const header = (title: string): AsciicastHeader => ({ version: 2, width: 80, height: 24, timestamp: Math.floor(Date.now() / 1000), title, env: { TERM: "xterm-256color" } });

async function collect(source: AsyncIterable<string>, timeoutMs = 20_000): Promise<string[]> {
  const batches: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`read() did not end within ${timeoutMs} ms (after ${batches.length} batches)`)), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        for await (const batch of source) batches.push(batch);
      })(),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
  return batches;
}

/** Records `chunks` as output of one session and waits until everything is stored. */
async function record(store: RecordingStore, id: string, chunks: string[], options: SessionRecorderOptions = {}): Promise<SessionRecorder> {
  const recorder = new SessionRecorder(header(id), store.sink(id), options);
  for (const chunk of chunks) recorder.output(chunk);
  await recorder.finish("end");
  expect(recorder.damaged).toBe(false);
  return recorder;
}

function outputOf(text: string): string {
  return parseAsciicast(text)
    .events.filter(([, code]) => code === "o")
    .map(([, , data]) => data)
    .join("");
}

async function messagesOn(storage: TerminalStorage, id: string): Promise<number> {
  const info = await storage.jsm.streams.info(TerminalStreams.recordings.name, { subjects_filter: TerminalSubjects.recording(id) });
  return info.state.subjects?.[TerminalSubjects.recording(id)] ?? 0;
}

describe("recording store", () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let storage: TerminalStorage;
  let store: RecordingStore;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openTerminalStorage(nc, storageOptions(), logger);
    store = new RecordingStore(storage.js, storage.jsm, { maxAgeMs: 7 * DAY, maxBytes: 512 * 1024 * 1024 }, logger);
  });

  afterAll(async () => {
    store?.stop();
    await nc?.close();
    await nats?.dispose();
  });

  it("what a SessionRecorder writes reads back as one parseable asciicast, in order", async () => {
    const id = sessionId();
    const recorder = new SessionRecorder(header("roundtrip"), store.sink(id), { flushChars: 200 });
    recorder.resize(120, 40);
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i} \u00e9\u2603 \x1b[1mbold\x1b[0m\r\n`);
    for (const line of lines) recorder.output(line);
    recorder.input("\r");
    recorder.marker("half way");
    recorder.output("$ ");
    await recorder.finish("session ended");

    const batches = await collect(store.read(id));
    expect(batches.length).toBeGreaterThan(5);
    for (const batch of batches) expect(batch.endsWith("\n"), "each batch is whole lines").toBe(true);
    const parsed = parseAsciicast(batches.join(""));
    expect(parsed.header).toMatchObject({ version: 2, width: 80, height: 24, title: "roundtrip" });
    expect(parsed.events[0]).toEqual([expect.any(Number), "r", "120x40"]);
    expect(outputOf(batches.join(""))).toBe(lines.join("") + "$ ");
    expect(parsed.events.filter(([, c]) => c === "m").map(([, , d]) => d)).toEqual(["half way", "session ended"]);
    expect(parsed.events.at(-1)).toEqual([expect.any(Number), "m", "session ended"]);
  });

  it("exists() is true for a stored recording and false for an unknown one; an unknown one reads as nothing", async () => {
    const id = sessionId();
    await record(store, id, ["hello\r\n"]);
    expect(await store.exists(id)).toBe(true);
    const unknown = sessionId();
    expect(await store.exists(unknown)).toBe(false);
    expect(await collect(store.read(unknown), 5000)).toEqual([]);
  });

  it("a recording of several MB (many batches) reads back complete and in order", async () => {
    const id = sessionId();
    const chunks = Array.from({ length: 1200 }, (_, i) => `${String(i).padStart(5, "0")}:${"x".repeat(4090)}\r\n`);
    const expected = chunks.join("");
    expect(expected.length).toBeGreaterThan(4.5 * 1024 * 1024);
    await record(store, id, chunks);
    expect(await messagesOn(storage, id)).toBeGreaterThan(100);

    const batches = await collect(store.read(id));
    expect(batches.length).toBe(await messagesOn(storage, id));
    expect(outputOf(batches.join(""))).toBe(expected);
  });

  it("a reader started while batches are being written ends after the batches stored when it began", async () => {
    const id = sessionId();
    const sink = store.sink(id);
    const line = (n: number) => `[${n / 1000},"o","batch ${n}\\r\\n"]\n`;
    await sink.write(`${JSON.stringify(header("live"))}\n`);
    for (let n = 1; n <= 10; n++) await sink.write(line(n));

    const reader = store.read(id);
    const first = await reader.next(); // the read has begun: 11 batches are stored
    expect(first.value).toContain('"version":2');
    for (let n = 11; n <= 20; n++) await sink.write(line(n));
    const rest = await collect({ [Symbol.asyncIterator]: () => reader });
    expect(rest).toEqual(Array.from({ length: 10 }, (_, i) => line(i + 1)));

    // and while a writer keeps going without pause, a reader still ends with a whole, ordered prefix
    let writing = true;
    let written = 20;
    const writer = (async () => {
      while (writing) await sink.write(line(++written));
    })();
    try {
      const during = await collect(store.read(id));
      expect(during.length).toBeGreaterThanOrEqual(21);
      expect(during.slice(1)).toEqual(Array.from({ length: during.length - 1 }, (_, i) => line(i + 1)));
      expect(parseAsciicast(during.join("")).events.length).toBe(during.length - 1);
    } finally {
      writing = false;
      await writer;
    }
  });
});

describe("recording retention by total size", () => {
  const MAX_BYTES = 256 * 1024;
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let storage: TerminalStorage;
  let store: RecordingStore;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openTerminalStorage(nc, storageOptions({ recordingMaxBytes: MAX_BYTES }), logger);
    store = new RecordingStore(storage.js, storage.jsm, { maxAgeMs: 7 * DAY, maxBytes: MAX_BYTES }, logger);
  });

  afterAll(async () => {
    store?.stop();
    await nc?.close();
    await nats?.dispose();
  });

  it("purges whole oldest recordings until the stream is back under its share of the limit; the newest stays whole", async () => {
    // five recordings of ~48 KB in ~8 KB batches: together over 90 % of the limit, under the limit itself (so the
    // stream's own discard has cut nothing yet)
    const ids = Array.from({ length: 5 }, () => sessionId());
    const outputs = new Map<string, string>();
    for (const [r, id] of ids.entries()) {
      const chunks = Array.from({ length: 47 }, (_, i) => `${r}/${String(i).padStart(3, "0")} ${"y".repeat(1010)}\r\n`);
      outputs.set(id, chunks.join(""));
      await record(store, id, chunks, { flushChars: 8 * 1024 });
    }
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, await messagesOn(storage, id));
    const before = await storage.jsm.streams.info(TerminalStreams.recordings.name);
    expect(before.state.bytes).toBeGreaterThan(MAX_BYTES * 0.9);
    expect(before.state.messages, "nothing was discarded by the stream itself").toBe([...counts.values()].reduce((a, b) => a + b, 0));
    for (const id of ids) expect(counts.get(id)!).toBeGreaterThan(1);

    const purged = await store.enforceRetention();

    expect(purged).toBeGreaterThanOrEqual(1);
    expect(purged).toBeLessThan(ids.length);
    const after = await storage.jsm.streams.info(TerminalStreams.recordings.name);
    expect(after.state.bytes).toBeLessThan(MAX_BYTES * 0.9);
    // the purged ones are the oldest, and gone whole; the others are untouched
    for (const [i, id] of ids.entries()) {
      if (i < purged) {
        expect(await messagesOn(storage, id), `recording ${i} is gone`).toBe(0);
        expect(await store.exists(id)).toBe(false);
        expect(await collect(store.read(id), 5000)).toEqual([]);
      } else {
        expect(await messagesOn(storage, id), `recording ${i} is whole`).toBe(counts.get(id));
        expect(await store.exists(id)).toBe(true);
      }
    }
    const newest = ids.at(-1)!;
    const text = (await collect(store.read(newest))).join("");
    expect(outputOf(text)).toBe(outputs.get(newest));
    expect(parseAsciicast(text).events.at(-1)).toEqual([expect.any(Number), "m", "end"]);

    // under the threshold nothing more is purged
    expect(await store.enforceRetention()).toBe(0);
  });

  it("a reader of a recording that retention purges mid-read ends instead of waiting forever", async () => {
    const id = sessionId();
    const sink = store.sink(id);
    await sink.write(`${JSON.stringify(header("purged mid-read"))}\n`);
    for (let n = 1; n <= 300; n++) await sink.write(`[${n / 1000},"o","${"z".repeat(200)}"]\n`);

    const reader = store.read(id);
    expect((await reader.next()).done).toBe(false);
    await storage.jsm.streams.purge(TerminalStreams.recordings.name, { filter: TerminalSubjects.recording(id) });
    const rest = await collect({ [Symbol.asyncIterator]: () => reader }, 10_000);
    expect(rest.length).toBeLessThan(300);
    expect(await store.exists(id)).toBe(false);
  });
});
