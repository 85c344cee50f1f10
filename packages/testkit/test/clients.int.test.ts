import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { SseClient, TestWsClient, WsRefused } from "@patchmon-ws/testkit";

let server: Server;
let base: string;

beforeAll(async () => {
  const wss = new WebSocketServer({ noServer: true });
  server = createServer((req, res) => {
    if (req.url === "/stream") {
      const from = Number(req.headers["last-event-id"] ?? 0);
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (let id = from + 1; id <= from + 3; id++) res.write(`id: ${id}\nevent: tick\ndata: {"n":${id}}\n\n`);
      res.end();
    } else {
      res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ error: "no", code: "FORBIDDEN" }));
    }
  });
  server.on("upgrade", (req, socket, head) => {
    if (req.url !== "/ws") {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nRetry-After: 3\r\nConnection: close\r\n\r\n{"error":"who?","code":"CREDENTIALS_MISSING"}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ type: "hello" }));
      ws.on("message", (data) => {
        const text = data.toString();
        if (text === "bye") ws.close(4001, "asked to");
        else ws.send(text);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("TestWsClient", () => {
  it("collects messages, awaits one by predicate, reports the close", async () => {
    const client = await TestWsClient.connect(`ws://${base}/ws`);
    expect(await client.waitFor((m) => m.type === "hello")).toEqual({ type: "hello" });
    client.send({ type: "echo", n: 1 });
    client.send("not json");
    expect(await client.waitFor((m) => m === "not json")).toBe("not json");
    expect(client.messages).toEqual([{ type: "hello" }, { type: "echo", n: 1 }, "not json"]);
    await expect(client.waitFor((m) => m === "never", { timeoutMs: 100 })).rejects.toThrow(/within 100 ms/);
    client.send("bye");
    expect(await client.waitForClose()).toEqual({ code: 4001, reason: "asked to" });
  });

  it("records a refused upgrade's status, headers and JSON body", async () => {
    const refusal = await TestWsClient.refusal(`ws://${base}/nope`);
    expect(refusal).toBeInstanceOf(WsRefused);
    expect([refusal.status, refusal.json, refusal.retryAfter]).toEqual([401, { error: "who?", code: "CREDENTIALS_MISSING" }, "3"]);
    await expect(TestWsClient.connect(`ws://${base}/nope`)).rejects.toBeInstanceOf(WsRefused);
    await expect(TestWsClient.refusal(`ws://${base}/ws`)).rejects.toThrow(/accepted/);
  });
});

describe("SseClient", () => {
  it("parses the stream and resumes with Last-Event-ID", async () => {
    const first = await SseClient.open(`http://${base}/stream`);
    expect(first.status).toBe(200);
    await first.ended;
    expect(first.events.map((e) => [e.id, e.event, e.data])).toEqual([
      ["1", "tick", { n: 1 }],
      ["2", "tick", { n: 2 }],
      ["3", "tick", { n: 3 }],
    ]);
    const resumed = await SseClient.open(`http://${base}/stream`, { lastEventId: first.lastEventId! });
    expect((await resumed.waitFor((e) => e.data.n === 6)).id).toBe("6");
    await expect(resumed.waitFor((e) => e.data.n === 7, 5000)).rejects.toThrow(/before the stream ended/);
  });

  it("keeps a refused stream's status and JSON body", async () => {
    const refused = await SseClient.open(`http://${base}/other`);
    expect([refused.status, refused.body]).toEqual([403, { error: "no", code: "FORBIDDEN" }]);
  });
});
