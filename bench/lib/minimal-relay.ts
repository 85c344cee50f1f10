/**
 * The floor of any browser terminal in front of SSH: a `ws` server that relays the PatchMon terminal protocol to one
 * ssh2 PTY session and does nothing else (no auth, checks, limits, audit or back-pressure). Run as its own process by
 * the terminal benchmark, it shows what the extra process hop alone costs on this machine.
 * Arguments: <sshd port> <username> <password>; prints `{"port":N}` once listening.
 */
import ssh2 from "ssh2";
import { WebSocketServer } from "ws";

const [sshPort, username, password] = process.argv.slice(2);
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
wss.on("listening", () => process.stdout.write(`${JSON.stringify({ port: (wss.address() as { port: number }).port })}\n`));
wss.on("connection", (ws) => {
  const client = new ssh2.Client();
  client.on("error", () => ws.close(1011));
  client.on("ready", () => {
    client.shell({ term: "xterm-256color", cols: 80, rows: 24 }, (err, channel) => {
      if (err) return ws.close(1011);
      channel.setEncoding("utf8");
      channel.on("data", (text: string) => ws.send(JSON.stringify({ type: "data", data: text })));
      channel.on("close", () => ws.close(1000));
      ws.on("message", (raw) => {
        const message = JSON.parse(raw.toString()) as { type: string; data?: string };
        if (message.type === "input" && message.data !== undefined) channel.write(message.data);
        else if (message.type === "disconnect") client.end();
      });
      ws.send(JSON.stringify({ type: "connected" }));
    });
  });
  ws.on("close", () => client.end());
  client.connect({ host: "127.0.0.1", port: Number(sshPort), username, password });
  client.setNoDelay(true);
});
