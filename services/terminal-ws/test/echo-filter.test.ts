import { describe, expect, it } from "vitest";
import { EchoFilter, visibleText } from "../src/recording/echo-filter.js";

const WINDOW = 1000;

function filter(options: { maxPending?: number; maxOutputTail?: number } = {}): EchoFilter {
  return new EchoFilter({ windowMs: WINDOW, ...options });
}

describe("visibleText", () => {
  it("keeps printable text, including non-ASCII", () => {
    expect(visibleText("ls -la ~/é日本")).toBe("ls -la ~/é日本");
  });

  it("drops CSI sequences (colours, cursor moves, private modes)", () => {
    expect(visibleText("\x1b[01;34mdir\x1b[0m")).toBe("dir");
    expect(visibleText("a\x1b[Kb\x1b[1Dc\x1b[?2004hd\x1b[1;5Ce")).toBe("abcde");
  });

  it("drops OSC sequences ended by BEL or ST", () => {
    expect(visibleText("\x1b]0;bob@web1: ~\x07$ ")).toBe("$ ");
    expect(visibleText("\x1b]2;title\x1b\\x")).toBe("x");
  });

  it("drops two-character escapes (reverse index, index, next line) and every control character", () => {
    expect(visibleText("\x1bMa\x1bDb\x1bEc")).toBe("abc");
    expect(visibleText("a\r\nb\tc\x07d\x08e\x7f\x00f")).toBe("abcdef");
    expect(visibleText("\r\x03\x04\x1b[A\x1b[B")).toBe("");
  });

  it("drops the other two-character escapes: keypad modes, cursor save/restore, Alt+key", () => {
    // ESC = / ESC > (DECKPAM/DECKPNM, sent by vim, less, readline), ESC 7 / ESC 8 (DECSC/DECRC), ESC b (Alt+b).
    expect(visibleText("\x1b=a\x1b>b\x1b7c\x1b8d")).toBe("abcd");
    expect(visibleText("\x1bb\x1bf\x1b.")).toBe("");
  });

  it("drops SS3 sequences (arrow keys in application cursor mode, F1-F4)", () => {
    expect(visibleText("\x1bOA\x1bOB\x1bOP")).toBe("");
  });

  it("drops character-set designations (tput sgr0 writes ESC ( B)", () => {
    expect(visibleText("\x1b(B\x1b[mok")).toBe("ok");
  });
});

describe("EchoFilter: echoed input", () => {
  it("holds typed text until its echo and confirms it with its own time and data", () => {
    const f = filter();
    expect(f.input("ls\r", 100)).toEqual([]);
    expect(f.pendingCount).toBe(1);
    expect(f.output("ls\r\n", 120)).toEqual([{ at: 100, data: "ls\r" }]);
    expect(f.pendingCount).toBe(0);
    expect(f.hiddenChars).toBe(0);
  });

  it("confirms keystrokes in the order they were typed", () => {
    const f = filter();
    for (const [i, ch] of ["e", "c", "h", "o"].entries()) expect(f.input(ch, i)).toEqual([]);
    expect(f.output("ec", 10)).toEqual([
      { at: 0, data: "e" },
      { at: 1, data: "c" },
    ]);
    expect(f.output("ho", 11)).toEqual([
      { at: 2, data: "h" },
      { at: 3, data: "o" },
    ]);
    expect(f.pendingCount).toBe(0);
  });

  it("needs each keystroke echoed once: a repeated key needs a repeated echo", () => {
    const f = filter();
    f.input("l", 0);
    f.input("l", 1);
    expect(f.output("l", 2)).toEqual([{ at: 0, data: "l" }]);
    expect(f.pendingCount).toBe(1);
    expect(f.output("l", 3)).toEqual([{ at: 1, data: "l" }]);
  });

  it("confirms an echo split across several output chunks only once it is complete", () => {
    const f = filter();
    f.input("echo hello\r", 0);
    expect(f.output("ec", 5)).toEqual([]);
    expect(f.output("ho hel", 6)).toEqual([]);
    expect(f.output("lo\r\n", 7)).toEqual([{ at: 0, data: "echo hello\r" }]);
  });

  it("finds an echo interleaved with escape sequences and CR LF (readline redraws)", () => {
    const f = filter();
    f.input("git status", 0);
    // readline redrawing the line: erase-to-end, cursor moves, a bracketed-paste toggle, a title update.
    const redraw = "\x1b[?2004l\rg\x1b[Kit st\x1b[1D\x1b[1Catus\x1b]0;bob@web1: ~\x07";
    expect(f.output(redraw, 3)).toEqual([{ at: 0, data: "git status" }]);

    // A line wrapped by the terminal: the echo comes back with CR LF inside it.
    f.input("whoami\r", 5);
    expect(f.output("who\r\n", 6)).toEqual([]);
    expect(f.output("ami\r\n", 7)).toEqual([{ at: 5, data: "whoami\r" }]);
    expect(f.pendingCount).toBe(0);
  });

  it("finds an echo whose escape sequence is split across two output chunks", () => {
    const f = filter();
    f.input("git status", 0);
    // The PTY stream is cut anywhere: here in the middle of ESC [ K.
    expect(f.output("g\x1b[", 1)).toEqual([]);
    expect(f.output("Kit status", 2)).toEqual([{ at: 0, data: "git status" }]);
  });

  it("skips output before the echo (a prompt, other text) and matches later in the same chunk", () => {
    const f = filter();
    f.input("pwd", 10);
    expect(f.output("\x1b[32mbob@web1\x1b[0m:~$ pwd", 11)).toEqual([{ at: 10, data: "pwd" }]);
  });
});

describe("EchoFilter: input typed blind", () => {
  it("never confirms a password that is not echoed, drops it after the window and counts it", () => {
    const f = filter();
    f.input("hunter2", 1000);
    expect(f.output("\r\n", 1010)).toEqual([]);
    expect(f.expire(1000 + WINDOW - 1)).toEqual([]);
    expect(f.pendingCount).toBe(1);
    expect(f.hiddenChars).toBe(0);
    expect(f.expire(1000 + WINDOW)).toEqual([]);
    expect(f.pendingCount).toBe(0);
    expect(f.hiddenChars).toBe("hunter2".length);
    // The same text showing up later confirms nothing.
    expect(f.output("hunter2", 1000 + WINDOW + 1)).toEqual([]);
  });

  it("counts only the visible characters of dropped input", () => {
    const f = filter();
    f.input("s3cr\x1b[Det\r", 0);
    f.expire(WINDOW);
    expect(f.hiddenChars).toBe("s3cret".length);
  });

  it("does not confirm an echo that arrives only after the window has passed", () => {
    const f = filter();
    f.input("hunter2", 0);
    // No expire() call in between: the output itself comes after the window.
    expect(f.output("hunter2", WINDOW + 500)).toEqual([]);
    expect(f.hiddenChars).toBe("hunter2".length);
  });
});

describe("EchoFilter: keys without visible text", () => {
  it("confirms Enter, Ctrl-C, Ctrl-D, Tab, Backspace and arrow sequences at once when nothing is pending", () => {
    const f = filter();
    for (const key of ["\r", "\x03", "\x04", "\t", "\x7f", "\x1b[A", "\x1b[1;5C", "\x1b[3~", "\x1b[15~"]) {
      expect(f.input(key, 7)).toEqual([{ at: 7, data: key }]);
      expect(f.pendingCount).toBe(0);
    }
    expect(f.hiddenChars).toBe(0);
  });

  it("confirms arrow keys in application cursor mode (vim, less: ESC O A) and Alt+key at once", () => {
    const f = filter();
    for (const key of ["\x1bOA", "\x1bOD", "\x1bb", "\x1b."]) {
      expect(f.input(key, 7)).toEqual([{ at: 7, data: key }]);
    }
    expect(f.pendingCount).toBe(0);
    expect(f.hiddenChars).toBe(0);
  });

  it("keeps keys in order behind pending text and releases them with its echo", () => {
    const f = filter();
    f.input("ls", 0);
    expect(f.input("\r", 1)).toEqual([]);
    expect(f.input("\x1b[A", 2)).toEqual([]);
    expect(f.pendingCount).toBe(3);
    expect(f.output("ls", 3)).toEqual([
      { at: 0, data: "ls" },
      { at: 1, data: "\r" },
      { at: 2, data: "\x1b[A" },
    ]);
  });

  it("releases keys that waited behind a password once the password is dropped", () => {
    const f = filter();
    f.input("hunter2", 0);
    expect(f.input("\r", 50)).toEqual([]);
    expect(f.expire(WINDOW - 1)).toEqual([]);
    expect(f.expire(WINDOW)).toEqual([{ at: 50, data: "\r" }]);
    expect(f.hiddenChars).toBe(7);
  });

  it("releases keys behind a dropped password up to the next pending text only", () => {
    const f = filter();
    f.input("hunter2", 0);
    f.input("\r", 1);
    f.input("ls", 500);
    f.input("\r", 501);
    expect(f.expire(WINDOW)).toEqual([{ at: 1, data: "\r" }]);
    expect(f.pendingCount).toBe(2);
    expect(f.output("ls", WINDOW + 1)).toEqual([
      { at: 500, data: "ls" },
      { at: 501, data: "\r" },
    ]);
  });
});

describe("EchoFilter: output and input order", () => {
  it("ignores output that arrived before the input (nothing pending)", () => {
    const f = filter();
    expect(f.output("uptime", 0)).toEqual([]);
    expect(f.input("uptime", 10)).toEqual([]);
    expect(f.expire(10 + WINDOW)).toEqual([]);
    expect(f.hiddenChars).toBe(6);
  });

  it("never confirms input with output that arrived before it, even while other input is pending", () => {
    const f = filter();
    f.input("x", 0); // typed blind, pending
    expect(f.output("Your new password: Tr0ub4dor\r\n", 10)).toEqual([]);
    f.input("Tr0ub4dor", 20); // typed blind at the next prompt
    expect(f.output("\r\n", 30)).toEqual([]);
    // "x" is dropped; "Tr0ub4dor" was never echoed after it was typed.
    expect(f.expire(WINDOW)).toEqual([]);
    expect(f.expire(20 + WINDOW)).toEqual([]);
    expect(f.hiddenChars).toBe(1 + 9);
  });

  it("an earlier input's echo is not reused for a later input", () => {
    const f = filter();
    f.input("a", 0);
    f.input("a", 1);
    expect(f.output("a", 2)).toEqual([{ at: 0, data: "a" }]);
    expect(f.expire(1 + WINDOW)).toEqual([]);
    expect(f.hiddenChars).toBe(1);
  });
});

describe("EchoFilter: bounds", () => {
  it("holds at most maxPending entries, dropping the oldest unrecorded", () => {
    const f = filter({ maxPending: 3 });
    f.input("a", 0);
    f.input("b", 1);
    f.input("c", 2);
    expect(f.hiddenChars).toBe(0);
    f.input("d", 3);
    expect(f.pendingCount).toBe(3);
    expect(f.hiddenChars).toBe(1);
    // "a" is gone for good, even though the output now shows it.
    expect(f.output("abcd", 4)).toEqual([
      { at: 1, data: "b" },
      { at: 2, data: "c" },
      { at: 3, data: "d" },
    ]);
  });

  it("defaults maxPending to 256", () => {
    const f = filter();
    for (let i = 0; i < 300; i++) f.input("k", i);
    expect(f.pendingCount).toBe(256);
    expect(f.hiddenChars).toBe(44);
  });

  it("keeps at most maxOutputTail visible characters of output for matching", () => {
    const f = filter({ maxOutputTail: 8 });
    f.input("p", 0); // blind: keeps the tail alive
    f.input("needle", 1);
    expect(f.output("needle", 2)).toEqual([]); // waits behind "p"
    f.output("0123456789", 3); // pushes "needle" out of the 8-character tail
    expect(f.expire(WINDOW)).toEqual([]);
    expect(f.pendingCount).toBe(1);
    expect(f.expire(1 + WINDOW)).toEqual([]);
    expect(f.hiddenChars).toBe(1 + 6);
  });

  it("still matches an echo that stays within maxOutputTail", () => {
    const f = filter({ maxOutputTail: 8 });
    f.input("p", 0);
    f.input("needle", 1);
    f.output("needle", 2);
    f.output("xy", 3); // tail "needlexy": still 8
    expect(f.expire(WINDOW)).toEqual([{ at: 1, data: "needle" }]);
    expect(f.hiddenChars).toBe(1);
  });
});

describe("EchoFilter.finish", () => {
  it("drops everything pending, counting only visible text, and confirms nothing afterwards", () => {
    const f = filter();
    f.input("hunter2", 0);
    f.input("\r", 1);
    f.input("ls", 2);
    f.finish();
    expect(f.pendingCount).toBe(0);
    expect(f.hiddenChars).toBe(7 + 2);
    expect(f.output("hunter2\r\nls", 3)).toEqual([]);
    expect(f.expire(10 * WINDOW)).toEqual([]);
  });

  it("leaves a fresh state: later input behaves as in a new filter", () => {
    const f = filter();
    f.input("zz", 0);
    f.output("q", 1);
    f.finish();
    expect(f.input("\r", 2)).toEqual([{ at: 2, data: "\r" }]);
    f.input("ok", 3);
    expect(f.output("ok", 4)).toEqual([{ at: 3, data: "ok" }]);
  });
});
