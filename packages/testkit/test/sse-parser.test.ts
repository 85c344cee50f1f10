import { describe, expect, it } from "vitest";
import { SseParser, type SseEvent } from "@patchmon-ws/testkit";

function parse(chunks: string[]): { events: SseEvent[]; parser: SseParser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

describe("SseParser", () => {
  it("parses event, id, retry and JSON data across any chunking and line ending", () => {
    const wire = 'retry: 3000\r\nid: 7\r\nevent: status\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keepalive\n\ndata: plain text\n\n';
    for (const chunks of [[wire], wire.split(""), [wire.slice(0, 13), wire.slice(13)]]) {
      const { events, parser } = parse(chunks);
      expect(events).toEqual([
        { event: "status", data: { a: 1 }, text: '{"a":\n1}', id: "7", retry: 3000 },
        { event: "message", data: "plain text", text: "plain text", id: "7" },
      ]);
      expect(parser.lastEventId).toBe("7");
    }
  });

  it("dispatches nothing for a block without data, strips one leading space only, ignores unknown fields", () => {
    const { events } = parse(["event: lonely\n\nfoo: bar\ndata:  two spaces\ndata\n\n"]);
    expect(events).toEqual([{ event: "message", data: " two spaces\n", text: " two spaces\n" }]);
  });
});
