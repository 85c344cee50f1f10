import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { completeUpgrade, createSocketServer, destroyOnError } from "../src/index.js";

// V8's own check of an object's property storage (fast, shape-based, or a dictionary).
setFlagsFromString("--allow-natives-syntax");
const hasFastProperties = new Function("object", "return %HasFastProperties(object)") as (object: object) => boolean;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** An HTTP server whose upgrades go through `handle`; resolves with its port. */
async function serve(handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): Promise<number> {
  server = createServer();
  server.on("upgrade", handle);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

describe("completeUpgrade", () => {
  it("hands over the socket; what the service sends first arrives right after the 101", async () => {
    const wss = createSocketServer({ maxPayload: 1024 });
    const port = await serve(async (req, socket, head) => {
      const ws = await completeUpgrade(wss, req, socket, head);
      ws?.send("greeting");
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const first = await new Promise<string>((resolve, reject) => {
      client.once("message", (data) => resolve(data.toString()));
      client.once("error", reject);
    });
    expect(first).toBe("greeting");
    client.close();
  });

  it("takes the raw socket's error listener off without turning its listener table into a dictionary", async () => {
    const wss = createSocketServer({ maxPayload: 1024 });
    let handedOver: (socket: Duplex) => void;
    const upgraded = new Promise<Duplex>((resolve) => (handedOver = resolve));
    const port = await serve(async (req, socket, head) => {
      socket.on("error", destroyOnError);
      await completeUpgrade(wss, req, socket, head);
      handedOver(socket);
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    client.on("error", () => undefined);
    try {
      const socket = await upgraded;
      expect(socket.listeners("error")).not.toContain(destroyOnError);
      // A dictionary costs about 700 bytes more per socket, for as long as the connection lives.
      expect(hasFastProperties((socket as unknown as { _events: object })._events)).toBe(true);
    } finally {
      client.terminate();
    }
  });

  it("settles with undefined when the client went away before the upgrade completed (callers release their slots)", async () => {
    const wss = createSocketServer({ maxPayload: 1024 });
    let settled: (value: WebSocket | undefined) => void;
    const outcome = new Promise<WebSocket | undefined>((resolve) => (settled = resolve));
    const port = await serve((req, socket, head) => {
      // The client is gone by the time the service (say, after asking auth) completes the upgrade.
      socket.once("end", () => void completeUpgrade(wss, req, socket, head).then(settled));
      socket.resume();
    });
    const { connect } = await import("node:net");
    const raw = connect(port, "127.0.0.1", () => {
      raw.end(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    raw.on("error", () => undefined);
    expect(await outcome).toBeUndefined();
  });
});
