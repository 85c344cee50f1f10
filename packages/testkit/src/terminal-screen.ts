import xterm from "@xterm/headless";
import { parseAsciicast, parseResizeEventData } from "@patchmon-ws/protocol";

/**
 * What a browser terminal (xterm.js) would show for some output: @xterm/headless renders it, and the screen's lines
 * come back as text (trailing blanks trimmed). Used to check live terminals and replayed recordings alike.
 */
export async function renderScreen(output: string, cols: number, rows: number): Promise<string[]> {
  const terminal = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
  await new Promise<void>((resolve) => terminal.write(output, resolve));
  return screenLines(terminal);
}

/**
 * Replays an asciicast v2 recording the way a player does (output events written in order, resize events resizing
 * the terminal) and returns the final screen.
 */
export async function replayRecording(cast: string): Promise<{ screen: string[]; output: string; cols: number; rows: number }> {
  const { header, events } = parseAsciicast(cast);
  const terminal = new xterm.Terminal({ cols: header.width, rows: header.height, allowProposedApi: true, scrollback: 0 });
  let output = "";
  for (const [, code, data] of events) {
    if (code === "o") {
      output += data;
      await new Promise<void>((resolve) => terminal.write(data, resolve));
    } else if (code === "r") {
      const size = parseResizeEventData(data);
      if (size) terminal.resize(size.cols, size.rows);
    }
  }
  return { screen: screenLines(terminal), output, cols: terminal.cols, rows: terminal.rows };
}

function screenLines(terminal: InstanceType<typeof xterm.Terminal>): string[] {
  const buffer = terminal.buffer.active;
  const lines: string[] = [];
  for (let y = 0; y < terminal.rows; y++) lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? "");
  terminal.dispose();
  return lines;
}
