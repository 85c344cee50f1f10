import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseAsciicast, parseResizeEventData, type AsciicastEvent, type AsciicastHeader } from "@patchmon-ws/protocol";
import { SessionRecorder, type RecordingSink, type SessionRecorderOptions } from "../src/recording/session-recorder.js";

const START = 1_700_000_000_000;
const HEADER: AsciicastHeader = {
  version: 2,
  width: 80,
  height: 24,
  timestamp: Math.floor(START / 1000),
  title: "bob@web1",
  env: { TERM: "xterm-256color" },
};

/** Stores every batch at once. */
class MemorySink implements RecordingSink {
  readonly batches: string[] = [];
  write(batch: string): Promise<void> {
    this.batches.push(batch);
    return Promise.resolve();
  }
  get text(): string {
    return this.batches.join("");
  }
}

/** Stores a batch only when the test says so. */
class ManualSink implements RecordingSink {
  readonly writes: { batch: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  write(batch: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.writes.push({ batch, resolve, reject }));
  }
  get text(): string {
    return this.writes.map((w) => w.batch).join("");
  }
}

/** Lets promise callbacks run (and timers already due fire) without moving the clock. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

/** Moves the fake clock (Date.now and timers) forward. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

function recorder(sink: RecordingSink, options: SessionRecorderOptions = {}): SessionRecorder {
  return new SessionRecorder(HEADER, sink, { now: () => Date.now(), ...options });
}

function events(text: string): AsciicastEvent[] {
  return parseAsciicast(text).events;
}

function inputs(text: string): string[] {
  return events(text)
    .filter((e) => e[1] === "i")
    .map((e) => e[2]);
}

beforeEach(() => {
  vi.useFakeTimers({ now: START });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("SessionRecorder: the stored recording", () => {
  it("is asciicast v2: the header, then o/i/r/m events with times in seconds since the start", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink);
    rec.marker("connected");
    await advance(100);
    rec.input("ls\r");
    await advance(50);
    rec.output("ls\r\nREADME.md\r\n$ ");
    await advance(1350);
    rec.resize(120, 40);
    await rec.finish("ended: disconnected");

    const parsed = parseAsciicast(sink.text);
    expect(parsed.header).toEqual(HEADER);
    expect(parsed.header.env?.TERM).toBe("xterm-256color");
    expect(parsed.events).toEqual([
      [0, "m", "connected"],
      [0.1, "i", "ls\r"],
      [0.15, "o", "ls\r\nREADME.md\r\n$ "],
      [1.5, "r", "120x40"],
      [1.5, "m", "ended: disconnected"],
    ]);
    expect(parseResizeEventData(parsed.events[3]![2])).toEqual({ cols: 120, rows: 40 });
  });

  it("keeps the header as the first line even when nothing happens", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink);
    await rec.finish();
    const parsed = parseAsciicast(sink.text);
    expect(parsed.header.width).toBe(80);
    expect(parsed.events).toEqual([]);
  });

  it("counts the characters it handed to the sink", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink);
    rec.output("hello");
    await rec.finish();
    expect(rec.recordedChars).toBe(sink.text.length);
  });

  it("stamps an input confirmed late no earlier than the last event: times never go backwards", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { echoWindowMs: 1000 });
    rec.input("hunter2"); // typed blind: holds up what follows
    await advance(100);
    rec.input("ls"); // echoed, but waits behind the password
    await advance(100);
    rec.output("ls");
    await advance(300);
    rec.output("more output");
    await advance(1000); // the password is dropped; "ls" is released
    await rec.finish();

    const evs = events(sink.text); // parseAsciicast throws if time goes backwards
    for (let i = 1; i < evs.length; i++) expect(evs[i]![0]).toBeGreaterThanOrEqual(evs[i - 1]![0]);
    const ls = evs.find((e) => e[1] === "i" && e[2] === "ls");
    expect(ls).toBeDefined();
    expect(ls![0]).toBeGreaterThanOrEqual(0.5); // not its typing time (0.1): after "more output"
    expect(inputs(sink.text)).not.toContain("hunter2");
  });

  it("records an echoed input before its echo", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink);
    rec.input("w");
    await advance(5);
    rec.output("w");
    await rec.finish();
    expect(events(sink.text)).toEqual([
      [0, "i", "w"],
      [0.005, "o", "w"],
    ]);
  });
});

describe("SessionRecorder: input only as echoed", () => {
  it("never records a password typed blind while keeping echoed commands and the keys around it", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { echoWindowMs: 1000 });
    rec.output("bob@web1:~$ ");
    for (const ch of "sudo -k") {
      rec.input(ch);
      await advance(20);
      rec.output(ch);
    }
    rec.input("\r");
    await advance(10);
    rec.output("\r\n[sudo] password for bob: ");
    await advance(500);
    rec.input("hunter2");
    await advance(50);
    rec.input("\r");
    await advance(10);
    rec.output("\r\n");
    await advance(2000);
    rec.output("bob@web1:~$ ");
    rec.input("id\r");
    await advance(5);
    rec.output("id\r\nuid=1000(bob)\r\nbob@web1:~$ ");
    await rec.finish("ended: disconnected");

    const typed = inputs(sink.text);
    expect(typed.join("")).toBe("sudo -k\r\rid\r");
    expect(sink.text).not.toContain("hunter2");
    expect(rec.hiddenInputChars).toBe(7);
  });

  it("leaves out input still waiting for its echo when the session ends", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink);
    rec.input("s3cret");
    await rec.finish("ended: disconnected");
    expect(sink.text).not.toContain("s3cret");
    expect(rec.hiddenInputChars).toBe(6);
  });
});

describe("SessionRecorder: batching", () => {
  it("writes a batch as soon as it holds flushChars characters", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { flushChars: 200, flushMs: 10_000 });
    rec.output("a");
    await settle();
    expect(sink.batches).toHaveLength(0);
    rec.output("b".repeat(200));
    await settle();
    expect(sink.batches).toHaveLength(1);
    expect(sink.batches[0]).toContain('"a"');
    expect(parseAsciicast(sink.batches[0]!).events).toHaveLength(2);
  });

  it("writes a smaller batch flushMs after its first line", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { flushChars: 1_000_000, flushMs: 200 });
    await advance(150);
    rec.output("x");
    await advance(49);
    expect(sink.batches).toHaveLength(0);
    await advance(1); // 200 ms after the header
    expect(sink.batches).toHaveLength(1);
    expect(parseAsciicast(sink.batches[0]!).events).toEqual([[0.15, "o", "x"]]);

    await advance(100);
    rec.output("y");
    await advance(199);
    expect(sink.batches).toHaveLength(1);
    await advance(1);
    expect(sink.batches).toHaveLength(2);
    expect(sink.batches[1]).toBe('[0.3,"o","y"]\n');
  });

  it("writes batches in order and each one as whole lines", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { flushChars: 50 });
    for (let i = 0; i < 20; i++) {
      rec.output(`line ${i} ${"z".repeat(i)}`);
      await advance(3);
    }
    await rec.finish();
    expect(sink.batches.length).toBeGreaterThan(3);
    for (const batch of sink.batches) expect(batch.endsWith("\n")).toBe(true);
    expect(events(sink.text).map((e) => e[2])).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i} ${"z".repeat(i)}`));
  });
});

describe("SessionRecorder: back-pressure", () => {
  it("asks for a pause above highWaterChars unstored and a resume at half of it", async () => {
    const sink = new ManualSink();
    const onPressure = vi.fn();
    const rec = recorder(sink, { flushChars: 1, highWaterChars: 1000, onPressure });
    const chunk = "x".repeat(400); // each event line is ~410 characters; the first batch also carries the ~105-character header

    rec.output(chunk); // ~515 unstored
    rec.output(chunk); // ~925
    expect(onPressure).not.toHaveBeenCalled();
    expect(rec.isPressed).toBe(false);
    rec.output(chunk); // ~1340 > 1000
    expect(onPressure.mock.calls).toEqual([[true]]);
    expect(rec.isPressed).toBe(true);
    rec.output(chunk); // ~1750: still pressed, no repeated call
    expect(onPressure.mock.calls).toEqual([[true]]);

    await settle();
    expect(sink.writes).toHaveLength(1); // one write at a time, in order
    sink.writes[0]!.resolve(); // ~1235 left
    await settle();
    expect(onPressure.mock.calls).toEqual([[true]]);
    sink.writes[1]!.resolve(); // ~820 left: below the high-water mark but above half of it
    await settle();
    expect(onPressure.mock.calls).toEqual([[true]]);
    expect(rec.isPressed).toBe(true);
    sink.writes[2]!.resolve(); // ~410 left: at most half
    await settle();
    expect(onPressure.mock.calls).toEqual([[true], [false]]);
    expect(rec.isPressed).toBe(false);

    sink.writes[3]!.resolve();
    const done = rec.finish();
    await settle();
    for (const w of sink.writes.slice(4)) w.resolve();
    await done;
    expect(onPressure.mock.calls).toEqual([[true], [false]]);
    expect(events(sink.text)).toHaveLength(4);
  });
});

describe("SessionRecorder: sink failures", () => {
  it("marks the recording damaged, reports the error, and still writes later batches", async () => {
    const failure = new Error("stream unavailable");
    const written: string[] = [];
    let calls = 0;
    const sink: RecordingSink = {
      write(batch) {
        calls++;
        if (calls === 1) return Promise.reject(failure);
        written.push(batch);
        return Promise.resolve();
      },
    };
    const onError = vi.fn();
    const rec = recorder(sink, { flushChars: 1, onError });
    rec.output("first");
    await settle();
    expect(rec.damaged).toBe(true);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(failure);

    rec.output("second");
    rec.output("third");
    await rec.finish("ended: exited");
    expect(calls).toBe(4);
    expect(written.join("")).toBe('[0,"o","second"]\n[0,"o","third"]\n[0,"m","ended: exited"]\n');
    expect(onError).toHaveBeenCalledTimes(1);
    expect(rec.isPressed).toBe(false);
  });
});

describe("SessionRecorder.finish", () => {
  it("writes the final marker last and resolves only once every batch is stored", async () => {
    const sink = new ManualSink();
    const rec = recorder(sink, { flushChars: 1 });
    rec.output("one");
    rec.output("two");
    let finished = false;
    const done = rec.finish("ended: exited").then(() => {
      finished = true;
    });
    await settle();
    expect(finished).toBe(false);
    sink.writes[0]!.resolve();
    await settle();
    expect(finished).toBe(false);
    sink.writes[1]!.resolve();
    await settle();
    expect(finished).toBe(false);
    expect(sink.writes).toHaveLength(3);
    sink.writes[2]!.resolve();
    await done;
    expect(finished).toBe(true);
    const evs = events(sink.text);
    expect(evs[evs.length - 1]).toEqual([0, "m", "ended: exited"]);
  });

  it("flushes a partial batch at once instead of waiting for flushMs", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { flushChars: 1_000_000, flushMs: 60_000 });
    rec.output("tail");
    await rec.finish();
    expect(events(sink.text)).toEqual([[0, "o", "tail"]]);
  });

  it("records nothing afterwards, and a second finish writes nothing more", async () => {
    const sink = new MemorySink();
    const rec = recorder(sink, { echoWindowMs: 100 });
    rec.output("before");
    await rec.finish("ended: disconnected");
    const stored = sink.text;
    const batches = sink.batches.length;

    rec.output("after");
    rec.input("\r");
    rec.input("typed");
    rec.resize(100, 50);
    rec.marker("late");
    await rec.finish("again");
    await advance(60_000);
    expect(sink.text).toBe(stored);
    expect(sink.batches).toHaveLength(batches);
    expect(events(stored).map((e) => e[2])).toEqual(["before", "ended: disconnected"]);
  });
});
